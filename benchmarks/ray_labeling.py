"""Labeling throughput: 2 Ray workers vs 1 process, side by side on the countdown testbed shape.

All runs label the same problems with the same seed (and must write identical rows). Two Ray
figures: *cold*, where the job starts its own local Ray (what `--workers 2` costs on a laptop with
no cluster), and *cluster*, where the job joins a `ray start --head --num-cpus 2` cluster started
before the clock (how a cluster user runs; actor start-up and policy loading are still timed). With
no `--policy`, a random-init testbed-shaped Llama (hidden 128, 4 layers, number tokenizer) is
saved to a temp dir; random weights emit long responses, so the token budget is what bounds a run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from pavlab.labeling.format import label_shards
from pavlab.labeling.run import LabelConfig, run_labeling
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


def ray_cli(*args: str) -> None:
    ray = Path(sys.executable).with_name("ray")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    subprocess.run([str(ray), *args], check=True, capture_output=True, env=env)


def timed_on_running_cluster(config: LabelConfig) -> tuple[float, float, list[dict]]:
    """(cluster start-up s, job s, rows) with the job joining a fresh 2-CPU head node through RAY_ADDRESS."""
    started = time.perf_counter()
    ray_cli("start", "--head", "--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats")
    startup_s = time.perf_counter() - started
    os.environ["RAY_ADDRESS"] = "auto"
    try:
        job_s, rows = timed_labeling(config)
    finally:
        del os.environ["RAY_ADDRESS"]
        ray_cli("stop", "--force")
    return startup_s, job_s, rows


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

        os.environ.pop("RAY_ADDRESS", None)
        single_s, single_rows = timed_labeling(config("single", 0))
        cold_s, cold_rows = timed_labeling(config("ray-cold", 2))
        cluster_startup_s, cluster_s, cluster_rows = timed_on_running_cluster(config("ray-cluster", 2))
    print(f"problems={problems} n_cov=2 n_mc={n_mc} max_new_tokens={tokens} rows={len(single_rows)}")
    print(f"1 process: {single_s:.1f} s; 2 Ray workers, cold (local Ray started by the job): {cold_s:.1f} s "
          f"= {single_s / cold_s:.2f}x; 2 Ray workers on a running cluster: {cluster_s:.1f} s "
          f"(+{cluster_startup_s:.1f} s for `ray start`, once per machine); "
          f"rows identical: {cold_rows == single_rows and cluster_rows == single_rows}")
    print(f"ray_labeling_speedup_2_workers: {single_s / cluster_s:.2f} on a running cluster, "
          f"{single_s / cold_s:.2f} cold (target >= 1.7)")


if __name__ == "__main__":
    main()
