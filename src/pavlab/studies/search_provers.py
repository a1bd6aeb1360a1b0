"""The prover sweep: PAV beam search with Best-of-K provers (and other checkpoints) at every budget N.

Why: the paper's prover ablation (2B) finds Bo4 better than Bo2 and Bo32 at every N: a prover
that is too weak cannot tell steps apart, one that is too strong succeeds from everywhere. It
also uses other checkpoints as provers (for 2B the best prover is 9B); such a prover enters
here as `model:DIR`, a Q^mu verifier trained on that policy's rollouts (`extra_provers`).
Output in OUT: `cells/`, `search_provers.{json,csv,md}` and `accuracy_vs_n_by_prover.png`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, field_validator

from pavlab.policies.prover_spec import Prover
from pavlab.studies.search_cells import SearchArm, SearchStudyBase, finish, per_budget_table, run_budget_grid, section

KIND = "search_provers"


class ProverSweepConfig(SearchStudyBase):
    QUICK: ClassVar[dict[str, Any]] = {"bok": [1, 4, 32], "budgets": [2, 8], "seeds": [0], "problems": 16}

    bok: list[int] = Field([1, 2, 4, 8, 16, 32], min_length=1, description="K of the Best-of-K(pi) provers")
    extra_provers: list[str] = Field([], description="other provers, e.g. model:DIR of a weaker / stronger policy")

    @field_validator("extra_provers")
    @classmethod
    def _valid_provers(cls, specs: list[str]) -> list[str]:
        return [str(Prover.parse(spec, field="extra_provers")) for spec in specs]


def best_prover_per_n(means: dict[str, list[float]], budgets: list[int]) -> dict[int, str]:
    """The prover with the highest seed-mean accuracy at each N (the first listed on ties)."""
    names = list(means)
    return {n: names[int(np.argmax([means[name][i] for name in names]))] for i, n in enumerate(budgets)}


def beats_everywhere(means: dict[str, list[float]], winner: str, loser: str) -> bool | None:
    """Whether `winner` is strictly more accurate than `loser` at every N (None if either was not run)."""
    if winner not in means or loser not in means:
        return None
    return all(w > v for w, v in zip(means[winner], means[loser], strict=True))


def run_prover_sweep(config: ProverSweepConfig, command: str = "pavlab study search-provers") -> Path:
    """PAV beam search with every prover at every N x seed (alpha and C shared), plus the figure and Markdown;
    returns the path of `search_provers.json`."""
    budgets, seeds = sorted(set(config.budgets)), config.seeds
    specs = list(dict.fromkeys([f"bok:{k}" for k in sorted(set(config.bok))] + config.extra_provers))
    arms = {spec: SearchArm("beam", "q+a", prover=spec) for spec in specs}
    run, means = run_budget_grid(config, KIND, arms, "accuracy", "accuracy_vs_n_by_prover.png",
                                 xlabel="beam width N", title=f"PAV beam search by prover (alpha={config.alpha})")
    best = best_prover_per_n(means, budgets)
    summary = {"mean_accuracy": means, "best_prover_per_n": best,
               "bok4_beats_bok2_everywhere": beats_everywhere(means, "bok:4", "bok:2"),
               "bok4_beats_bok32_everywhere": beats_everywhere(means, "bok:4", "bok:32"),
               "figures": [str(run.run_dir / "accuracy_vs_n_by_prover.png")]}

    def yes_no(value: bool | None) -> str:
        return "not run" if value is None else ("yes" if value else "no")

    claims = [("best prover", "Bo4 (2B)", ", ".join(f"N={n}: {spec}" for n, spec in best.items())),
              ("Bo4 beats Bo2 at every N", "yes", yes_no(summary["bok4_beats_bok2_everywhere"])),
              ("Bo4 beats Bo32 at every N", "yes", yes_no(summary["bok4_beats_bok32_everywhere"]))]
    if config.extra_provers:
        claims.append(("best of the extra provers (another policy, or a PAV trained on a prover's values)",
                       "a somewhat stronger policy (2B: 9B)",
                       max(config.extra_provers, key=lambda spec: means[spec][-1])))
    return finish(run, KIND, summary, section("Test-time search: prover sweep", command, run, claims,
                                              per_budget_table(run, specs, budgets, seeds)))
