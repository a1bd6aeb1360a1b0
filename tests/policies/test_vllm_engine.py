"""What the real vLLM engine showed that the stand-in did not, and the vLLM backend against the HF one.

- The CPU engine dies when a seeded request's prefill is split into chunks (`CPU Generator does not use
  offset` -> `EngineDeadError`): `VLLMPolicy` turns chunked prefill off on CPU, and with it on sends seeded
  calls in batches the scheduler admits whole. Checked on the stand-in (which models the crash) everywhere
  and on the real CPU engine in `make test-vllm` (tests marked `vllm`).
- Same seeds, same problems: the vLLM backend's samples match the HF backend's in distribution (not
  bitwise: the two draw with different random streams), on SmolLM2-135M and GSM8K prompts; the same
  statistics tell apart a sampler run at another temperature, so the check can fail.
- `pavlab recipe run recipes/smollm2_gsm8k.yaml --smoke` runs sample -> label -> train_verifier -> search
  with the policy on the real engine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from pavlab.errors import PavlabError
from pavlab.policies.base import Completion, SamplingParams
from pavlab.policies.vllm import VLLMPolicy

ROOT = Path(__file__).resolve().parents[2]
# Prompts of 104 characters (one token each with the character tokenizer): 16 x 4 samples are 6.7k prompt
# tokens, past the CPU engine's default step budget of 4096 tokens.
LONG_PROMPTS = [f"{i}+{i + 1}=" + "ab1+2=" * 17 for i in range(16)]


def token_ids(groups: list[list[Completion]]) -> list[list[int]]:
    return [c.token_ids for group in groups for c in group]


# --- seeded batches and chunked prefill: the stand-in (runs everywhere) -------------------------------------


def test_cpu_engine_defaults_to_whole_prefills(vllm_standin: ModuleType, checkpoint_dir: Path) -> None:
    policy = VLLMPolicy(str(checkpoint_dir))
    assert vllm_standin.LLM.instances[0].engine_args["enable_chunked_prefill"] is False
    assert not policy.chunked_prefill and not policy.needs_bounded_batches(SamplingParams(seed=1))
    policy.sample(LONG_PROMPTS, [""] * 16, 4, SamplingParams(max_new_tokens=2, seed=1))
    assert len(vllm_standin.LLM.instances[0].generate_calls) == 1  # one engine call: nothing to bound


def test_seeded_calls_are_bounded_when_chunked_prefill_is_on(vllm_standin: ModuleType, checkpoint_dir: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunked prefill on: a seeded call goes out in engine calls of <= max_num_seqs samples and
    <= max_num_batched_tokens prompt tokens, each sample as its own n=1 request seeded as vLLM's fan-out
    seeds it, so the samples are the ones one unbounded call draws. Unbounded, the engine dies."""
    params = SamplingParams(max_new_tokens=6, seed=3)
    whole = VLLMPolicy(str(checkpoint_dir)).sample(LONG_PROMPTS[:6], [""] * 6, 4, params)
    chunked = VLLMPolicy(f"{checkpoint_dir}?enable_chunked_prefill=true&max_num_batched_tokens=256&max_num_seqs=8")
    assert chunked.needs_bounded_batches(params) and not chunked.needs_bounded_batches(SamplingParams())
    assert token_ids(chunked.sample(LONG_PROMPTS[:6], [""] * 6, 4, params)) == token_ids(whole)
    calls = vllm_standin.LLM.instances[1].generate_calls
    assert len(calls) == 12  # 24 samples of 105 tokens, two per step budget of 256
    for prompts, request_params in calls:
        assert sum(len(p["prompt_token_ids"]) for p in prompts) <= 256 and len(prompts) <= 8
        assert all(p.n == 1 for p in request_params)
    assert [p.seed for _, ps in calls for p in ps] == list(range(3, 3 + 24))
    unseeded = SamplingParams(max_new_tokens=2)
    chunked.sample(LONG_PROMPTS[:6], [""] * 6, 4, unseeded)
    assert len(calls) == 13  # unseeded: one call, the engine may chunk it

    monkeypatch.setattr(VLLMPolicy, "needs_bounded_batches", lambda self, params: False)
    with pytest.raises(vllm_standin.EngineDeadError, match="CPU Generator does not use offset"):
        chunked.sample(LONG_PROMPTS[:6], [""] * 6, 4, params)


def test_a_context_past_the_step_budget_is_a_user_error(vllm_standin: ModuleType, checkpoint_dir: Path) -> None:
    policy = VLLMPolicy(f"{checkpoint_dir}?enable_chunked_prefill=true&max_num_batched_tokens=64&max_num_seqs=8")
    with pytest.raises(PavlabError, match="longer than max_num_batched_tokens"):
        policy.sample(LONG_PROMPTS[:1], [""], 1, SamplingParams(max_new_tokens=2, seed=0))


# --- the same on the real engine ------------------------------------------------------------------------


@pytest.mark.vllm
def test_real_engine_seeded_batch_past_the_step_budget(real_vllm: Callable[..., VLLMPolicy],
                                                       shared_checkpoint: Path) -> None:
    """16 prompts x 4 seeded samples over 6.7k prompt tokens: the batch that killed the CPU engine."""
    policy = real_vllm(shared_checkpoint)
    if policy.on_cpu:
        assert not policy.chunked_prefill
    params = SamplingParams(max_new_tokens=8, seed=5)
    first = token_ids(policy.sample(LONG_PROMPTS, [""] * 16, 4, params))
    assert len(first) == 64 and token_ids(policy.sample(LONG_PROMPTS, [""] * 16, 4, params)) == first


@pytest.mark.vllm
def test_real_engine_bounded_batches_draw_the_same_samples(real_vllm: Callable[..., VLLMPolicy],
                                                           own_vllm: Callable[..., VLLMPolicy],
                                                           shared_checkpoint: Path) -> None:
    """Chunked prefill on (budget 512 tokens, 16 sequences): seeded calls run, bounded, and draw what the
    whole-prefill engine draws for the same seeds (per-request seeds; float32 on both)."""
    params = SamplingParams(max_new_tokens=8, seed=5)
    whole = token_ids(real_vllm(shared_checkpoint).sample(LONG_PROMPTS, [""] * 16, 4, params))
    chunked = own_vllm(shared_checkpoint, "&enable_chunked_prefill=true&max_num_batched_tokens=512&max_num_seqs=16")
    assert chunked.chunked_prefill and chunked.max_num_batched_tokens == 512
    assert token_ids(chunked.sample(LONG_PROMPTS, [""] * 16, 4, params)) == whole


@pytest.mark.vllm
def test_real_cpu_engine_dies_on_a_chunked_seeded_prefill(own_vllm: Callable[..., VLLMPolicy],
                                                          shared_checkpoint: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Why the bounding exists: without it the CPU engine dies (if a vLLM release fixes this, this test says
    so, and the bounding can go). The engine is the test's own: it is dead afterwards."""
    policy = own_vllm(shared_checkpoint, "&enable_chunked_prefill=true&max_num_batched_tokens=256&max_num_seqs=16"
                                          "&seed=1")
    if not policy.on_cpu:
        pytest.skip("the crash is the CPU engine's")
    monkeypatch.setattr(VLLMPolicy, "needs_bounded_batches", lambda self, params: False)
    with pytest.raises(Exception, match="EngineCore|offset|dead|Dead"):
        policy.sample(LONG_PROMPTS, [""] * 16, 4, SamplingParams(max_new_tokens=4, seed=5))


# --- the vLLM backend against the HF backend, in distribution ---------------------------------------------


def permutation_p_values(a: list[Completion], b: list[Completion], rng: np.random.Generator,
                         rounds: int = 2000) -> dict[str, float]:
    """Two-sample permutation tests (same seed, same problems): the chi-square statistic of the first three
    tokens (categories pooled below 8 counts into one), and the difference in mean per-token logprob and in
    mean length. Small p: the two samplers draw from different distributions."""
    heads = [tuple(c.token_ids[:3]) for c in a + b]
    counts = Counter(heads)
    labels = np.array([hash(h) if counts[h] >= 8 else 0 for h in heads])
    categories = {label: i for i, label in enumerate(sorted(set(labels.tolist())))}
    codes = np.array([categories[label] for label in labels.tolist()])
    mean_logprob = np.array([np.mean(c.logprobs) for c in a + b])
    length = np.array([len(c.token_ids) for c in a + b], dtype=float)
    group = np.array([0] * len(a) + [1] * len(b))

    def stats(g: np.ndarray) -> np.ndarray:
        table = np.stack([np.bincount(codes[g == k], minlength=len(categories)) for k in (0, 1)]).astype(float)
        expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
        chi2 = float(((table - expected) ** 2 / np.where(expected > 0, expected, 1)).sum())
        return np.array([chi2, abs(mean_logprob[g == 0].mean() - mean_logprob[g == 1].mean()),
                         abs(length[g == 0].mean() - length[g == 1].mean())])

    observed = stats(group)
    exceed = np.zeros(3)
    for _ in range(rounds):
        exceed += stats(rng.permutation(group)) >= observed - 1e-12
    return dict(zip(("first_tokens", "mean_logprob", "length"), ((exceed + 1) / (rounds + 1)).tolist(), strict=True))


@pytest.mark.vllm
def test_vllm_samples_match_hf_in_distribution(own_vllm: Callable[..., VLLMPolicy]) -> None:
    """SmolLM2-135M (float32 on both), 3 GSM8K test problems x 64 seeded first steps each at temperature 0.7.
    Each problem's samples pass three permutation tests at p >= 0.001; vLLM at temperature 1.0 fails them."""
    from pavlab.policies.loading import load_policy
    from pavlab.tasks.registry import get_task

    task = get_task("gsm8k")
    problems = task.problems("test", 3, seed=0)
    prompts = [task.prompt(problem) for problem in problems]
    params = SamplingParams(temperature=0.7, max_new_tokens=24, stop="step", seed=11)
    hf_groups = load_policy("smollm2", step_separator=task.step_separator).sample(prompts, [""] * 3, 64, params)
    # the engine after HF's turn: its worker polls for work and would take CPU from HF's sampling
    vllm = own_vllm("smollm2", "&kv_cache_space_gb=1", step_separator=task.step_separator)
    vllm_groups = vllm.sample(prompts, [""] * 3, 64, params)
    hotter = vllm.sample(prompts, [""] * 3, 64, SamplingParams(temperature=1.0, max_new_tokens=24, stop="step",
                                                               seed=11))
    vllm.close()
    rng = np.random.default_rng(0)
    same = [permutation_p_values(h, v, rng) for h, v in zip(hf_groups, vllm_groups, strict=True)]
    differ = [permutation_p_values(h, v, rng) for h, v in zip(hf_groups, hotter, strict=True)]
    print("HF vs vLLM (T=0.7):", same, "\nHF (T=0.7) vs vLLM (T=1.0):", differ)
    assert all(p >= 1e-3 for problem in same for p in problem.values()), same
    assert all(min(problem.values()) < 1e-3 for problem in differ), differ


# --- the recipe smoke on the real engine ----------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


@pytest.mark.vllm
def test_smollm2_recipe_smoke_on_the_real_engine(tmp_path: Path, vllm_platform: str) -> None:
    """`pavlab recipe run recipes/smollm2_gsm8k.yaml --smoke` with `--policy vllm:...` (overrides apply after
    the smoke scaling, which would otherwise read the weights with the HF backend): sample -> label ->
    train_verifier -> search on 4 GSM8K problems, every generation on the engine."""
    options = "dtype=float32" + ("&enforce_eager=true&kv_cache_space_gb=1" if vllm_platform == "cpu" else "")
    env = {key: value for key, value in os.environ.items() if key != "VLLM_CPU_KVCACHE_SPACE"}
    out = tmp_path / "smoke"
    command = [str(Path(sys.executable).with_name("pavlab")), "recipe", "run", str(ROOT / "recipes/smollm2_gsm8k.yaml"),
               "--smoke", "--out", str(out), "--stages", "sample,label,train_verifier,search",
               "--policy", f"vllm:smollm2?{options}", "--threads", "1"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=1500,
                          env={**env, "PYTHONUNBUFFERED": "1"})
    print(done.stdout[-4000:], done.stderr[-4000:])
    assert done.returncode == 0, done.stderr[-4000:]
    stages = json.loads((out / "recipe_run.json").read_text())["stages"]
    assert [s["name"] for s in stages] == ["sample", "label", "train_verifier", "search"]
    assert not any(s["skipped"] for s in stages)
    samples = read_jsonl(out / "samples.jsonl")
    assert len(samples) == 4 * 2 and all(row["response"] for row in samples)
    assert (out / "search" / "summary.json").is_file()
    for record in (out / "samples.jsonl.parts" / "sample_run.json", out / "labels" / "label_run.json",
                   *sorted((out / "search").glob("*_run.json"))):
        assert json.loads(record.read_text())["config"]["policy"] == f"vllm:smollm2?{options}", record
