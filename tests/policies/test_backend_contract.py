"""One interface, checked the same way on every generation backend (HF transformers and vLLM).

The vLLM cases run only where vllm and a GPU are present; the conversion of vLLM outputs into
pavlab completions is checked everywhere with stand-in output objects.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from transformers import PreTrainedTokenizerFast

from pavlab.errors import PavlabError
from pavlab.policies.base import PolicyBackend, SamplingParams
from pavlab.policies.vllm import VLLMPolicy, finish_reason_of, parse_vllm_spec

SEPARATOR = "\n"
PROMPTS = ["1+2=", "ab", "1+2="]
PREFIXES = ["", "x\n", "3\n"]


@pytest.fixture(params=["hf", "vllm"])
def backend(request: pytest.FixtureRequest, checkpoint_dir: Path) -> PolicyBackend:
    if request.param == "hf":
        from pavlab.policies.loading import load_policy

        return load_policy(str(checkpoint_dir), step_separator=SEPARATOR)
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vllm not installed")
    if not torch.cuda.is_available():
        pytest.skip("vllm needs a GPU")
    return VLLMPolicy(f"{checkpoint_dir}?gpu_memory_utilization=0.2", step_separator=SEPARATOR)


def eos_ids(backend: PolicyBackend) -> set[int]:
    tokenizer = backend.tokenizer  # type: ignore[attr-defined]
    return {tokenizer.eos_token_id}


def test_n_completions_per_prefix_with_consistent_fields(backend: PolicyBackend) -> None:
    groups = backend.sample(PROMPTS, PREFIXES, 4, SamplingParams(max_new_tokens=16, seed=1))
    assert [len(group) for group in groups] == [4, 4, 4]
    for completion in (c for group in groups for c in group):
        assert completion.finish_reason in ("eos", "length")  # stop="response" never ends at a step
        assert len(completion.logprobs) == len(completion.token_ids) <= 16
        assert all(logprob <= 0.0 for logprob in completion.logprobs)
        if completion.finish_reason == "length":
            assert len(completion.token_ids) == 16
        else:
            assert completion.token_ids[-1] in eos_ids(backend)


def test_step_stop_gives_exactly_one_step(backend: PolicyBackend) -> None:
    groups = backend.sample(PROMPTS, PREFIXES, 8, SamplingParams(max_new_tokens=40, stop="step", seed=2))
    completions = [c for group in groups for c in group]
    assert any(c.finish_reason == "step" for c in completions)
    for completion in completions:
        if completion.finish_reason == "step":
            assert completion.text.endswith(SEPARATOR) and completion.text.count(SEPARATOR) == 1
        else:
            assert SEPARATOR not in completion.text


def test_meter_counts_what_was_generated(backend: PolicyBackend) -> None:
    before = backend.meter.snapshot()
    groups = backend.sample(PROMPTS, PREFIXES, 3, SamplingParams(max_new_tokens=8, seed=3))
    spent = backend.meter.since(before)
    assert spent["samples"] == 3 * len(PROMPTS)
    assert spent["generated_tokens"] == sum(len(c.token_ids) for group in groups for c in group)
    assert spent["prompt_tokens"] > 0 and spent["forward_passes"] > 0


def test_seeded_sampling_is_reproducible(backend: PolicyBackend) -> None:
    def draw(seed: int) -> list[list[int]]:
        groups = backend.sample(PROMPTS, PREFIXES, 2, SamplingParams(max_new_tokens=12, seed=seed))
        return [c.token_ids for group in groups for c in group]

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)


def test_bad_requests_are_user_errors(backend: PolicyBackend) -> None:
    with pytest.raises(PavlabError, match="prompts but"):
        backend.sample(PROMPTS, PREFIXES[:1], 1, SamplingParams())
    with pytest.raises(PavlabError, match="n must be"):
        backend.sample(PROMPTS, PREFIXES, 0, SamplingParams())


# --- vLLM specifics that need no GPU ---------------------------------------------------------------


def test_vllm_spec_options() -> None:
    path, options = parse_vllm_spec("/ckpt/gemma?gpu_memory_utilization=0.4&tensor_parallel_size=2")
    assert path == "/ckpt/gemma"
    assert (options.gpu_memory_utilization, options.tensor_parallel_size) == (0.4, 2)
    assert parse_vllm_spec("/ckpt")[1].enable_prefix_caching
    with pytest.raises(PavlabError, match="gpu_memory_utilization"):
        parse_vllm_spec("/ckpt?gpu_memory_utilization=1.5")
    with pytest.raises(PavlabError, match="swap_space"):
        parse_vllm_spec("/ckpt?swap_space=4")


def test_missing_vllm_is_a_one_line_install_hint(checkpoint_dir: Path) -> None:
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed")
    with pytest.raises(PavlabError, match=r"pip install 'pavlab\[vllm\]'"):
        VLLMPolicy(str(checkpoint_dir))


def fake_output(token_ids: list[int], finish_reason: str, stop_reason: str | int | None) -> SimpleNamespace:
    logprobs = [{token: SimpleNamespace(logprob=-0.5 - i)} for i, token in enumerate(token_ids)]
    return SimpleNamespace(token_ids=token_ids, logprobs=logprobs, finish_reason=finish_reason,
                           stop_reason=stop_reason)


def test_vllm_finish_reasons() -> None:
    assert finish_reason_of(fake_output([5], "length", None), "step") == "length"
    assert finish_reason_of(fake_output([5], "stop", "\n"), "step") == "step"
    assert finish_reason_of(fake_output([2], "stop", None), "step") == "eos"
    assert finish_reason_of(fake_output([2], "stop", 2), "response") == "eos"


def test_vllm_outputs_become_the_same_completions_as_hf(tokenizer: PreTrainedTokenizerFast) -> None:
    policy = object.__new__(VLLMPolicy)  # no engine: only the output conversion and the meter
    PolicyBackend.__init__(policy, SEPARATOR)
    policy.tokenizer = tokenizer
    ids = tokenizer("ab\n", add_special_tokens=False)["input_ids"]
    step = policy.completion(fake_output(ids, "stop", "\n"), "step")
    assert (step.text, step.finish_reason, step.token_ids) == ("ab\n", "step", ids)
    assert step.logprobs == [-0.5, -1.5, -2.5]
    ended = policy.completion(fake_output([*ids, tokenizer.eos_token_id], "stop", None), "response")
    assert (ended.text, ended.finish_reason, ended.token_ids[-1]) == ("ab\n", "eos", tokenizer.eos_token_id)
    request = SimpleNamespace(prompt_token_ids=[1, 7, 8], outputs=[fake_output(ids, "length", None),
                                                                  fake_output(ids[:1], "length", None)])
    policy.charge([request], 2)
    assert policy.meter.snapshot() == {"prompt_tokens": 3, "generated_tokens": 4, "forward_passes": 3,
                                       "samples": 2, "verifier_tokens": 0, "verifier_passes": 0}

