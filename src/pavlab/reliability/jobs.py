"""The five long job kinds in tiny, fast configurations, plus the model fixtures they need.

Everything runs on the planted task: procedural provers (`mu:GAMMA`) need no model for sampling
and labeling, and a random 1-layer Llama with the number tokenizer stands in for a policy in RL.
Chunks are small, so a random kill usually lands between or inside chunk writes.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pavlab.reliability.kill import Job

PYTHON = sys.executable
CLI = [PYTHON, "-c", "from pavlab.cli import main; main()"]
# Sampling and labeling import neither torch nor typer, so a run starts in ~1 s instead of ~5 s.
_LIGHT = ("import sys; from pavlab.config import load_config; from {module} import {cls} as C, {fn} as run; "
          "run(load_config(C, None, sys.argv[1:]))")
LIGHT_SAMPLE = [PYTHON, "-c", _LIGHT.format(module="pavlab.sampling", cls="SampleConfig", fn="run_sampling")]
LIGHT_LABEL = [PYTHON, "-c", _LIGHT.format(module="pavlab.labeling.run", cls="LabelConfig", fn="run_labeling")]

PLANTED = ["--task.name", "planted"]


def sample_job(problems: int = 96) -> Job:
    return Job("sample", lambda out: LIGHT_SAMPLE + PLANTED + [
        "--policy", "mu:5", "--problems", str(problems), "--n", "8", "--chunk_problems", "4",
        "--out", str(out / "samples.jsonl")], compared=("samples.jsonl",))


def label_job(problems: int = 96) -> Job:
    return Job("label", lambda out: LIGHT_LABEL + PLANTED + [
        "--policy", "mu:5", "--rollout_policy", "mu:10", "--problems", str(problems), "--n_cov", "2",
        "--n_mc", "8", "--chunk_problems", "4", "--out", str(out)], compared=("labels/shard-*.jsonl",))


def train_verifier_job(labels: Path, tokenizer: Path, steps: int = 40) -> Job:
    return Job("train-verifier", lambda out: CLI + [
        "train-verifier", "--labels", str(labels / "labels"), "--tokenizer", str(tokenizer), "--kind", "pav",
        "--steps", str(steps), "--checkpoint_every", "7", "--batch_size", "8", "--warmup", "5",
        "--scratch.hidden_size", "16", "--scratch.num_layers", "1", "--scratch.num_heads", "2",
        "--scratch.intermediate_size", "32", "--max_length", "64", "--device", "cpu", "--out", str(out)],
        compared=("train_log.jsonl", "*.safetensors", "verifier.json"))


def search_job(verifier: Path, problems: int = 16) -> Job:
    return Job("search", lambda out: CLI + ["search"] + PLANTED + [
        "--policy", "mu:5", "--verifier", str(verifier), "--prover", "bok:4", "--method", "beam",
        "--score", "q+a", "--n", "4", "--candidates", "2", "--max_depth", "10", "--problems", str(problems),
        "--chunk_problems", "2", "--out", str(out)], compared=("results/shard-*.jsonl", "summary.json"))


def rl_job(policy: Path, iterations: int = 24) -> Job:
    return Job("rl", lambda out: CLI + ["rl"] + PLANTED + [
        "--policy", str(policy), "--prover", "mu:10", "--alpha", "0.5", "--iterations", str(iterations),
        "--problems_per_iteration", "2", "--group_size", "2", "--max_new_tokens", "12", "--micro_batch_size", "4",
        "--lr", "1e-3", "--eval_every", "8", "--eval_problems", "4", "--checkpoint_every", "1", "--threads", "1",
        "--progress", "false", "--out", str(out)], compared=("*.jsonl", "*.json", "**/*.safetensors"))


def tiny_policy(out: Path) -> Path:
    """A random 1-layer Llama over the number tokenizer, saved as safetensors (enough to drive RL)."""

    from pavlab.policies.testbed_tokenizer import build_number_tokenizer
    from pavlab.tasks.planted import VOCAB_SIZE
    from pavlab.testing import tiny_llama

    tokenizer = build_number_tokenizer(VOCAB_SIZE, [])
    model = tiny_llama(tokenizer, 0, hidden=16, layers=1, heads=2, max_positions=128, tie=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def fixtures(workdir: Path) -> dict[str, Path]:
    """Build once: tiny policy, a label run and a trained verifier (used by the model-backed jobs)."""
    from pavlab.config import load_config
    from pavlab.labeling.run import LabelConfig, run_labeling
    from pavlab.verifiers.train import VerifierTrainConfig, train_verifier

    policy = workdir / "fixtures" / "policy"
    if not policy.is_dir():
        tiny_policy(policy)
    labels = run_labeling(load_config(LabelConfig, None, label_job(48).argv(workdir / "fixtures" / "labels")[3:]))
    verifier = workdir / "fixtures" / "verifier"
    if not (verifier / "verifier.json").is_file():
        config = VerifierTrainConfig(init="scratch", tokenizer=str(policy), steps=10, batch_size=8, warmup=2,
                                     max_length=64, device="cpu",
                                     scratch={"hidden_size": 16, "num_layers": 1, "num_heads": 2,
                                              "intermediate_size": 32})
        train_verifier(config, [labels / "labels"], verifier)
    return {"policy": policy, "labels": labels, "verifier": verifier}


def all_jobs(workdir: Path) -> list[Job]:
    built = fixtures(workdir)
    return [sample_job(), label_job(), train_verifier_job(built["labels"], built["policy"]),
            search_job(built["verifier"]), rl_job(built["policy"])]
