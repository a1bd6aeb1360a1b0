"""PAV as a best-of-N re-ranker: pick from the same N i.i.d. samples by the PAV or by the ORM.

Why: the paper separates what the PAV adds to search from what it adds as a scorer: used only
to rerank best-of-N, it gains +4% at N = 128 (9B), far less than PAV beam search. Both arms draw
their samples with the same seed, so they pick from the same N responses and differ only in the
pick. Output in OUT: `cells/`, `search_rerank.{json,csv,md}` and `rerank_accuracy_vs_n.png`.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from pavlab.search.scorers import Aggregate
from pavlab.studies.search_cells import (
    SearchArm,
    SearchStudyBase,
    finish,
    pct,
    per_budget_table,
    run_budget_grid,
    section,
)

KIND = "search_rerank"


class RerankConfig(SearchStudyBase):
    aggregate: Aggregate = Field("min", description="effective rewards Q^pi + alpha A^mu of a response -> its score")


def run_rerank_study(config: RerankConfig, command: str = "pavlab study search-rerank") -> Path:
    """ORM best-of-N vs PAV-reranked best-of-N at every N x seed, the figure and the Markdown section; returns the
    path of `search_rerank.json`."""
    budgets, seeds = sorted(set(config.budgets)), config.seeds
    arms = {"orm_best_of_n": SearchArm("best_of_n", "q"),
            "pav_rerank": SearchArm("best_of_n", "q+a", aggregate=config.aggregate)}
    run, means = run_budget_grid(config, KIND, arms, "accuracy", "rerank_accuracy_vs_n.png",
                                 xlabel="N (i.i.d. samples)",
                                 title=f"best-of-N reranked by the PAV ({config.aggregate})")
    gains = [p - o for p, o in zip(means["pav_rerank"], means["orm_best_of_n"], strict=True)]
    summary = {"mean_accuracy": means, "gain_per_n": dict(zip(budgets, gains, strict=True)),
               "figures": [str(run.run_dir / "rerank_accuracy_vs_n.png")]}
    claims = [(f"PAV rerank minus ORM best-of-N at N={budgets[-1]}", "+4% (9B, N=128)", pct(gains[-1])),
              ("N where the PAV rerank is more accurate", "-", f"{sum(g > 0 for g in gains)} of {len(budgets)}")]
    return finish(run, KIND, summary, section("Test-time search: PAV as a best-of-N re-ranker", command, run, claims,
                                              per_budget_table(run, list(arms), budgets, seeds)))
