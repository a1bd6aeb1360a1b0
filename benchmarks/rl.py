"""Time per RL iteration of PAV-RL over ORM-RL: the extra cost of scoring every step with a PAV.

Default shape: the RL study's (`studies/rl_countdown.py` SHARED_SETTINGS) on the subset-sum testbed:
the shipped ~0.9M-parameter Llama policy (so responses have their real lengths, ~57 tokens), 16
problems x 4 samples, <= 96 new tokens, learned value baseline, KL to the start policy, 1 torch
thread; no RFT start and no held-out evaluation (one-off costs, not per iteration). The PAV is a
value model of the same shape with a fresh head (prover bok:4): its timing does not depend on skill.
`--prover model` reads the prover's values from a second value model of that shape (`model:DIR`, as the
learned PAV of RESULTS.md 5b does), one more forward pass per scored batch (subset-sum shape only).
`--shape countdown` is the older shape (a random ~1M-parameter countdown Llama, 48 tokens, LOO baseline).

The runs step in turn (ORM-RL with length-bucketed loss, ORM-RL with one padded batch as before,
PAV-RL), so load on a shared machine hits them alike. Reported: median wall and CPU (process) seconds
of an iteration after the first; on a loaded machine the CPU figure is the stable one, and the
ratio is taken from it. Last line: `pav_rl_over_orm_rl_time_per_iteration: X (target <= 1.3)`.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from pavlab.config import load_config
from pavlab.policies.testbed import COUNTDOWN_SYMBOLS, TestbedConfig, build_model, shipped_testbed
from pavlab.policies.testbed_tokenizer import build_number_tokenizer
from pavlab.rl import objective
from pavlab.rl.config import RLConfig
from pavlab.rl.trainer import RLTrainer
from pavlab.runs import prepare_run
from pavlab.studies.rl_countdown import SHARED_SETTINGS
from pavlab.verifiers.model import ValueModel


def countdown_shapes(root: Path) -> tuple[Path, Path]:
    """A countdown-testbed-shaped policy checkpoint and a PAV (Q^pi verifier) of the same shape."""
    shape = TestbedConfig()
    tokenizer = build_number_tokenizer(max(shape.max_result, shape.max_number * shape.n_numbers), COUNTDOWN_SYMBOLS)
    policy = build_model(shape, tokenizer)
    policy.save_pretrained(root / "policy")
    tokenizer.save_pretrained(root / "policy")
    verifier = ValueModel.from_backbone(build_model(shape.model_copy(update={"seed": 1}), tokenizer), kind="pav",
                                        prover="bok:4")
    verifier.save_pretrained(root / "pav", tokenizer)
    return root / "policy", root / "pav"


def subset_sum_shapes(root: Path) -> tuple[Path, Path]:
    """The shipped subset-sum testbed policy, a PAV on its backbone with a fresh head, and (under
    root/prover) a second fresh value model for `--prover model`."""
    from pavlab.verifiers.model import load_tokenizer

    policy = shipped_testbed("subset_sum")
    tokenizer = load_tokenizer(policy)
    ValueModel.from_backbone(policy, kind="pav", prover="bok:4").save_pretrained(root / "pav", tokenizer)
    ValueModel.from_backbone(policy, kind="prm").save_pretrained(root / "prover", tokenizer)
    return policy, root / "pav"


def run_settings(shape: str, batch: int) -> dict[str, Any]:
    """RLConfig fields of every timed run (the caller adds policy, prover and iteration bounds)."""
    if shape == "countdown":
        return {"task": "countdown", "problems_per_iteration": batch, "group_size": 4, "max_new_tokens": 48,
                "threads": 1}
    return {**SHARED_SETTINGS, "task": {"name": "subset_sum", "min_take": 5, "max_take": 6},
            "problems_per_iteration": batch, "rft_steps": 0}


def make_trainer(root: Path, name: str, policy: Path, pav: Path, alpha: float, settings: dict[str, Any],
                 iterations: int, prover: str = "bok:4") -> RLTrainer:
    config = load_config(RLConfig, overrides={
        **settings, "policy": str(policy), "out": str(root / name), "alpha": alpha, "iterations": iterations,
        "prover": prover if alpha else None, "verifier": str(pav) if alpha else None,
        "eval_every": iterations + 1, "eval_problems": 1, "eval_samples": 1, "checkpoint_every": iterations,
        "progress": False})
    return RLTrainer(config, prepare_run(config.out, config, kind="rl"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (under a minute)")
    parser.add_argument("--shape", choices=["subset_sum", "countdown"], default="subset_sum")
    parser.add_argument("--prover", choices=["bok", "model"], default="bok",
                        help="PAV-RL's prover: bok:4 of the verifier, or a second value model (model:DIR)")
    args = parser.parse_args()
    if args.prover == "model" and args.shape != "subset_sum":
        parser.error("--prover model needs --shape subset_sum")
    iterations = 3 if args.quick else 8
    batch = 16 if args.shape == "subset_sum" else (8 if args.quick else 16)
    settings = run_settings(args.shape, batch)
    arms = [("ORM-RL", 0.0, objective.BUCKET_ROWS), ("ORM-RL one padded batch (before)", 0.0, 0),
            ("PAV-RL", 1.0, objective.BUCKET_ROWS)]
    times: dict[str, list[tuple[float, float, float]]] = {name: [] for name, _, _ in arms}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        policy, pav = (subset_sum_shapes if args.shape == "subset_sum" else countdown_shapes)(root)
        prover = f"model:{root / 'prover'}" if args.prover == "model" else "bok:4"
        trainers = {name: make_trainer(root, f"run{index}", policy, pav, alpha, settings, iterations, prover)
                    for index, (name, alpha, _) in enumerate(arms)}
        for _ in range(iterations):
            for name, _, rows in arms:
                objective.BUCKET_ROWS = rows
                wall, cpu = time.perf_counter(), time.process_time()
                row = trainers[name].step()
                times[name].append((time.perf_counter() - wall, time.process_time() - cpu, row["scoring_seconds"]))
    median = {name: [statistics.median(t[k] for t in rows[1:]) for k in range(3)] for name, rows in times.items()}
    tokens = "<= 96 new tokens, value baseline" if args.shape == "subset_sum" else "<= 48 new tokens"
    print(f"{args.shape} shape: {batch} problems x 4 samples, {tokens}, 1 thread, prover "
          f"{'a second value model' if args.prover == 'model' else 'bok:4'}; median of {iterations - 1} "
          f"iterations after the first")
    for name, (wall, cpu, scoring) in median.items():
        print(f"{name}: {wall:.3f} s/iteration wall, {cpu:.3f} s/iteration CPU"
              + (f", of which PAV scoring {scoring:.3f} s wall" if name == "PAV-RL" else ""))
    orm, before, pav_rl = (median[name][1] for name, _, _ in arms)
    print(f"ORM-RL speedup from length buckets (CPU): {before / orm:.2f}x; "
          f"PAV-RL / ORM-RL wall: {median['PAV-RL'][0] / median['ORM-RL'][0]:.2f}")
    print(f"pav_rl_over_orm_rl_time_per_iteration: {pav_rl / orm:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
