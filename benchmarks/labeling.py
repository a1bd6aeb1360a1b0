"""Labeled prefixes per second: pavlab's batched MC labeler vs a naive per-prefix labeler.

The naive labeler is what Math-Shepherd-style pipelines do: one independent
`model.generate(num_return_sequences=n_mc)` call per prefix (each call re-encodes its prefix
n_mc times). pavlab's labeler sends all prefixes of a chunk to `HFPolicy` in one call, dedupes
identical prefixes, prefills each once and expands the KV cache to the n_mc continuations.
Both label the same prefixes of the same seed responses on the countdown testbed, side by side.

Run: `.venv/bin/python benchmarks/labeling.py [--quick] [--policy DIR]` (without --policy a
small testbed policy is trained first, ~1 minute).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from pavlab.labeling.mc import PrefixRequest, estimate_q_values
from pavlab.labeling.seeding import sample_seeds
from pavlab.policies.base import SamplingParams
from pavlab.policies.loading import load_policy
from pavlab.policies.testbed import TestbedConfig, train_testbed
from pavlab.policies.tokenization import encode_prompt, encode_response
from pavlab.tasks.countdown import CountdownTask


def naive_labels(policy, task, requests: list[PrefixRequest], n_mc: int, max_new_tokens: int) -> list[float]:
    """One `generate` call per prefix: the baseline the brief names."""
    model, tokenizer = policy.model, policy.tokenizer
    values = []
    for request in requests:
        prefix = task.prefix_text(list(request.steps))
        ids = encode_prompt(tokenizer, task.prompt(request.problem)) + encode_response(tokenizer, prefix)[0]
        with torch.inference_mode():
            out = model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                 do_sample=True, temperature=1.0, top_k=0, num_return_sequences=n_mc,
                                 max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id)
        texts = tokenizer.batch_decode(out[:, len(ids):], skip_special_tokens=True)
        values.append(sum(task.is_correct(prefix + t, request.problem) for t in texts) / n_mc)
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--policy", type=Path, default=None)
    parser.add_argument("--problems", type=int, default=None)
    parser.add_argument("--n_mc", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    task = CountdownTask()
    policy_dir = args.policy
    if policy_dir is None:
        policy_dir = Path(tempfile.mkdtemp()) / "policy"
        train_testbed("countdown", policy_dir, TestbedConfig(steps=60 if args.quick else 200, progress=False))
    policy = load_policy(str(policy_dir))
    n_problems = args.problems or (4 if args.quick else 16)
    params = SamplingParams(temperature=1.0, max_new_tokens=96, seed=0)
    seeds = sample_seeds(task, policy, task.problems("train", n_problems, seed=0), 2, params)
    requests = [seed.request(h) for seed in seeds for h in range(len(seed.steps))]
    print(f"{len(requests)} prefixes, n_mc={args.n_mc}, policy {policy_dir}")

    start = time.perf_counter()
    naive = naive_labels(policy, task, requests, args.n_mc, params.max_new_tokens)
    naive_s = time.perf_counter() - start
    start = time.perf_counter()
    ours = estimate_q_values(task, policy, requests, args.n_mc, params)
    ours_s = time.perf_counter() - start
    unique = len(ours)
    mean_gap = abs(sum(naive) / len(naive) - sum(ours[r].q_hat for r in requests) / len(requests))
    print(f"naive per-prefix generate: {len(requests) / naive_s:8.2f} prefixes/s ({naive_s:.1f} s)")
    print(f"pavlab batched labeler:    {len(requests) / ours_s:8.2f} prefixes/s ({ours_s:.1f} s, "
          f"{unique} unique prefixes)")
    print(f"mean Q_hat naive vs batched: {sum(naive) / len(naive):.3f} vs "
          f"{sum(ours[r].q_hat for r in requests) / len(requests):.3f} (|diff| {mean_gap:.3f}, sampling noise)")
    print(f"labeling_speedup_vs_naive: {naive_s / ours_s:.2f} (target >= 3)")


if __name__ == "__main__":
    main()
