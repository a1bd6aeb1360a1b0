"""Time per RL iteration of PAV-RL over ORM-RL: the extra cost of scoring every step with a PAV.

Both runs use the countdown testbed shape (the ~1M-parameter Llama and its number tokenizer,
randomly initialised: the timing depends on shapes and response lengths, not on skill) and the
same batch; PAV-RL adds one verifier pass per response (prover bok:4 on the Q^pi model).
Last line: `pav_rl_over_orm_rl_time_per_iteration: X (target <= 1.3)`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from pavlab.config import load_config
from pavlab.policies.testbed import COUNTDOWN_SYMBOLS, TestbedConfig, build_model
from pavlab.policies.testbed_tokenizer import build_number_tokenizer
from pavlab.rl.config import RLConfig
from pavlab.rl.trainer import RL_METRICS_FILE, run_rl
from pavlab.verifiers.model import ValueModel


def make_testbed_shapes(root: Path) -> tuple[Path, Path]:
    """A testbed-shaped policy checkpoint and a PAV (Q^pi verifier) of the same shape."""
    shape = TestbedConfig()
    tokenizer = build_number_tokenizer(max(shape.max_result, shape.max_number * shape.n_numbers), COUNTDOWN_SYMBOLS)
    policy = build_model(shape, tokenizer)
    policy.save_pretrained(root / "policy")
    tokenizer.save_pretrained(root / "policy")
    verifier = ValueModel.from_backbone(build_model(shape.model_copy(update={"seed": 1}), tokenizer), kind="pav",
                                        prover="bok:4")
    verifier.save_pretrained(root / "pav", tokenizer)
    return root / "policy", root / "pav"


def seconds_per_iteration(root: Path, policy: Path, pav: Path, alpha: float, iterations: int,
                          batch: int) -> tuple[float, float]:
    """Median wall time of an iteration after the first (which warms up allocators), and of its step scoring."""
    out = root / f"alpha{alpha}"
    config = load_config(RLConfig, overrides={
        "task": "countdown", "policy": str(policy), "out": str(out), "alpha": alpha, "iterations": iterations,
        "prover": "bok:4" if alpha else None, "verifier": str(pav) if alpha else None,
        "problems_per_iteration": batch, "group_size": 4, "max_new_tokens": 48, "eval_every": iterations + 1,
        "eval_problems": 1, "checkpoint_every": iterations, "progress": False})
    run_rl(config)
    rows = [json.loads(line) for line in (out / RL_METRICS_FILE).read_text().splitlines()][1:]
    return (statistics.median(row["seconds"] for row in rows[1:]),
            statistics.median(row["scoring_seconds"] for row in rows[1:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (under a minute)")
    args = parser.parse_args()
    iterations, batch = (4, 8) if args.quick else (12, 16)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        policy, pav = make_testbed_shapes(root)
        orm, _ = seconds_per_iteration(root, policy, pav, 0.0, iterations, batch)
        pav_rl, scoring = seconds_per_iteration(root, policy, pav, 1.0, iterations, batch)
    print(f"ORM-RL: {orm:.3f} s/iteration, PAV-RL: {pav_rl:.3f} s/iteration of which PAV scoring {scoring:.3f} s "
          f"({batch} problems x 4 samples, <= 48 new tokens)")
    print(f"pav_rl_over_orm_rl_time_per_iteration: {pav_rl / orm:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
