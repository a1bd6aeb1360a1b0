"""Labeling throughput: 2 Ray workers vs 1 process, side by side on the countdown testbed shape.

Both runs label the same problems with the same seed (and must write identical rows); the
speedup is wall time of the in-process run over the 2-worker run, Ray start-up included. With
no `--policy`, a random-init testbed-shaped Llama (hidden 128, 4 layers, number tokenizer) is
saved to a temp dir; random weights emit long responses, so the token budget is what bounds a run.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import torch

from pavlab.labeling.run import LabelConfig, label_shards, run_labeling
from pavlab.policies.testbed import COUNTDOWN_SYMBOLS, TestbedConfig, build_model
from pavlab.policies.testbed_tokenizer import build_number_tokenizer


def random_testbed(folder: Path) -> Path:
    config = TestbedConfig()
    tokenizer = build_number_tokenizer(max(config.max_result, config.max_number * config.n_numbers), COUNTDOWN_SYMBOLS)
    build_model(config, tokenizer).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def timed_labeling(config: LabelConfig) -> tuple[float, list[dict]]:
    started = time.perf_counter()
    run_dir = run_labeling(config)
    return time.perf_counter() - started, list(label_shards(run_dir).rows())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--policy", help="testbed checkpoint folder (default: random-init testbed shape)")
    parser.add_argument("--quick", action="store_true", help="under a minute")
    parser.add_argument("--problems", type=int, default=None,
                        help="problems to label (default 32; Ray start-up costs ~8 s, so speedups need more work)")
    args = parser.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    torch.set_num_threads(1)  # one core per worker on both sides: the comparison is 1 core vs 2
    problems, n_mc, tokens = (8, 4, 24) if args.quick else (args.problems or 32, 8, 48)
    with tempfile.TemporaryDirectory() as tmp:
        policy = args.policy or str(random_testbed(Path(tmp) / "policy"))

        def config(name: str, workers: int) -> LabelConfig:
            return LabelConfig(task={"name": "countdown", "max_number": 10}, policy=policy, problems=problems,
                               n_cov=2, n_mc=n_mc, chunk_problems=2 if args.quick else 8,
                               generation={"max_new_tokens": tokens}, workers=workers,
                               out=Path(tmp) / name)

        single_s, single_rows = timed_labeling(config("single", 0))
        ray_s, ray_rows = timed_labeling(config("ray", 2))
    print(f"problems={problems} n_cov=2 n_mc={n_mc} max_new_tokens={tokens} rows={len(single_rows)}")
    print(f"1 process: {single_s:.1f} s; 2 Ray workers: {ray_s:.1f} s (Ray start-up included); "
          f"rows identical: {ray_rows == single_rows}")
    print(f"ray_labeling_speedup_2_workers: {single_s / ray_s:.2f} (target >= 1.7)")


if __name__ == "__main__":
    main()
