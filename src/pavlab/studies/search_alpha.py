"""The alpha sweep: tune the weight of A^mu in PAV beam search on held-out data, then test the pick.

Why: the paper tunes alpha on held-out problems (0.5 for 2B/9B, 0.2 for 27B) and reports that
any alpha in [0.2, 0.6] beats Q^pi alone (alpha = 0). Choosing on `val_split` and reporting
the chosen alpha's accuracy on `split` keeps the test numbers free of the tuning. Output in OUT:
`cells/`, `search_alpha.{json,csv,md}` and `accuracy_vs_alpha.png`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from pavlab.studies.plots import plot_seed_curves
from pavlab.studies.search_cells import Cell, SearchArm, SearchStudyBase, finish, pct, run_cells, section, spread

KIND = "search_alpha"


class AlphaSweepConfig(SearchStudyBase):
    QUICK: ClassVar[dict[str, Any]] = {"alphas": [0.0, 0.5, 1.0], "width": 4, "seeds": [0], "problems": 16}

    alphas: list[float] = Field([round(0.1 * i, 1) for i in range(11)], min_length=1)
    width: int = Field(16, gt=0, description="beam width B (= N) of every cell")
    val_split: str = Field("val", description="held-out split the alpha is chosen on")


def arm_name(alpha: float) -> str:
    return f"alpha={alpha:g}"


def choose_alpha(alphas: Sequence[float], accuracy: Sequence[float]) -> float:
    """The alpha with the highest mean held-out accuracy (the smallest such alpha on ties)."""
    return float(alphas[int(np.argmax(accuracy))])


def run_alpha_sweep(config: AlphaSweepConfig, command: str = "pavlab study search-alpha") -> Path:
    """Beam search (width B) for every alpha x seed on val; the chosen alpha and alpha = 0 on the test split;
    returns the path of `search_alpha.json`."""
    alphas = sorted(set(config.alphas))
    arms = {arm_name(a): SearchArm("beam", "q+a", alpha=a) for a in {*alphas, 0.0}}
    val_cells = [Cell(arm_name(a), config.width, seed, config.val_split) for seed in config.seeds for a in alphas]
    run = run_cells(config, KIND, arms, val_cells)  # the test cells depend on the val results
    val = {a: [v[0] for v in run.values("accuracy", arm_name(a), [config.width], config.seeds, config.val_split)]
           for a in alphas}
    chosen = choose_alpha(alphas, [float(np.mean(val[a])) for a in alphas])
    test_arms = list(dict.fromkeys([arm_name(chosen), arm_name(0.0)]))
    run = run_cells(config, KIND, arms, val_cells + [Cell(arm, config.width, seed, config.split)
                                                     for seed in config.seeds for arm in test_arms])
    test = {arm: [v[0] for v in run.values("accuracy", arm, [config.width], config.seeds, config.split)]
            for arm in test_arms}
    plot_seed_curves(run.run_dir / "accuracy_vs_alpha.png",
                     {f"{config.val_split} (beam {config.width})": (alphas, [[val[a][i] for a in alphas]
                                                                             for i in range(len(config.seeds))])},
                     xlabel="alpha (weight of A^mu)", ylabel="accuracy",
                     title=f"alpha sweep on {run.task_name} (prover {run.prover})")
    baseline = float(np.mean(val[0.0])) if 0.0 in val else None
    beats = [a for a in alphas if a > 0 and baseline is not None and np.mean(val[a]) > baseline]
    summary = {"val_accuracy": {arm_name(a): val[a] for a in alphas}, "chosen_alpha": chosen,
               "test_accuracy": test, "alphas_beating_q_pi_on_val": beats,
               "figures": [str(run.run_dir / "accuracy_vs_alpha.png")]}
    claims = [("alpha chosen on held-out data", "0.5 (2B, 9B), 0.2 (27B)", f"{chosen:g} (on {config.val_split})"),
              ("alphas that beat Q^pi alone (alpha 0) on held-out data", "all of [0.2, 0.6]",
               ", ".join(f"{a:g}" for a in beats) or "none"),
              (f"test accuracy, chosen alpha vs alpha 0 (beam {config.width})", "chosen alpha higher",
               f"{pct(float(np.mean(test[arm_name(chosen)])))} vs {pct(float(np.mean(test[arm_name(0.0)])))}")]
    details = ["| alpha | split | accuracy mean [min, max] |", "|---|---|---|",
               *(f"| {a:g} | {config.val_split} | {spread(val[a])} |" for a in alphas),
               *(f"| {arm.removeprefix('alpha=')} | {config.split} | {spread(test[arm])} |" for arm in test_arms)]
    return finish(run, KIND, summary, section("Test-time search: alpha sweep", command, run, claims, details))
