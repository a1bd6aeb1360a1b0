"""Rank candidate provers before paying for them: `rank_provers`, `choose_prover` and `pavlab prover rank`.

Why: the paper's best prover is "a bit stronger than pi, not much", and finding it by training
a verifier and running search or RL per candidate is expensive. The two terms of its bound
(`pavlab.provers.terms`) are measured on labels that already exist: `bok:K` candidates need
no new rollouts (Q^mu = 1 - (1 - q_hat)^K); a `policy:PATH` candidate needs one small label
run with `pavlab label --rollout_policy PATH` (same seed policy pi, so its prefixes match the
main labels by problem id and steps). Candidates are ranked by distinguishability + alignment.

Each candidate is scored on the transitions where it has values (all of them for `bok:K`, the
matched prefixes for `policy:PATH`; `transitions` in the result says how many). The same
bootstrap resamples of problems are used for every candidate, so `p_best` (how often a
candidate has the largest sum) compares them fairly.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, field_validator

from pavlab.config import Config
from pavlab.errors import PavlabError
from pavlab.io import read_json, write_json
from pavlab.labeling.format import LabeledResponse, read_label_rows, resolve_label_paths
from pavlab.policies.prover_spec import Prover
from pavlab.provers.terms import (
    Interval,
    PrefixKey,
    ProverValues,
    Transitions,
    bootstrap_weights,
    collect_transitions,
    interval,
    state_key,
    term_sums,
)
from pavlab.tasks.subset_sum import question_of_id, solver_state_value
from pavlab.verifiers.calibration import average_ranks
from pavlab.verifiers.progress import bok_values

DEFAULT_CANDIDATES = ("bok:1", "bok:2", "bok:4", "bok:8", "bok:16", "bok:32")
CANDIDATE_KINDS = ("bok", "policy", "model", "oracle", "solver")
"""What `prover rank` reads a spec as (`model:` only to say why it cannot be ranked)."""
RANKING_FILE = "ranking.json"
PLOT_FILE = "ranking.png"


@dataclass(frozen=True)
class ProverScore:
    """One candidate's terms with 95% bootstrap intervals, and how much data they rest on."""

    spec: str
    distinguishability: Interval
    alignment: Interval
    total: Interval
    p_best: float
    transitions: int
    sibling_states: int
    problems: int

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec, "distinguishability": self.distinguishability.to_dict(),
                "alignment": self.alignment.to_dict(), "total": self.total.to_dict(), "p_best": self.p_best,
                "transitions": self.transitions, "sibling_states": self.sibling_states, "problems": self.problems}


def bok_prover(k: int) -> ProverValues:
    """Best-of-K(pi) values from the transitions' own Q^pi labels."""
    return lambda t: (bok_values(t.q_parent, k), bok_values(t.q_child, k))


def labeled_prover(rows: list[LabeledResponse]) -> ProverValues:
    """Q^mu looked up by prefix in another label run (NaN where that run did not label the prefix)."""
    values: dict[tuple[str, tuple[str, ...], bool], float] = {}
    for row in rows:
        for h, q in enumerate(row.q_hat):
            if q is not None:
                values[state_key(row, h)] = q

    def lookup(t: Transitions) -> tuple[np.ndarray, np.ndarray]:
        return (np.array([values.get(key, math.nan) for key in t.parent]),
                np.array([values.get(key, math.nan) for key in t.child]))

    return lookup


def parse_prover_labels(entries: Sequence[str]) -> dict[str, list[Path]]:
    """`policy:PATH=RUN_DIR` entries -> {"policy:PATH": label paths of RUN_DIR}."""
    runs: dict[str, list[Path]] = {}
    for entry in entries:
        spec, eq, run = entry.rpartition("=")
        if not (eq and spec and run) or Prover.parse(spec, field="prover_labels").kind != "policy":
            raise PavlabError(f"bad prover labels {entry!r}: expected policy:PATH=RUN_DIR", field="prover_labels")
        runs[str(Prover.parse(spec))] = resolve_label_paths([run])
    return runs


def exact_solver_prover(good_move_prob: float, spec: str) -> ProverValues:
    """Exact values of the subset-sum solver `solver:P` (the oracle is P = 1), read off the labels' problem ids."""
    def value(key: PrefixKey) -> float:
        problem_id, steps, ended = key
        question = question_of_id(problem_id)
        if question is None:
            raise PavlabError(f"candidate {spec!r} has exact values only on subset_sum labels, but a problem id is "
                              f"{problem_id!r}", field="candidates")
        return solver_state_value(*question, list(steps), ended, good_move_prob)

    return lambda t: (np.array([value(key) for key in t.parent]), np.array([value(key) for key in t.child]))


def candidate_values(spec: str, prover_runs: dict[str, list[Path]]) -> ProverValues:
    """The value source of one candidate spec; specs that cannot be scored from labels are errors."""
    prover = Prover.parse(spec, kinds=CANDIDATE_KINDS, field="candidates")
    if prover.kind == "bok":
        return bok_prover(int(prover.k or 1))
    if prover.kind in ("oracle", "solver"):
        return exact_solver_prover(1.0 if prover.kind == "oracle" else float(prover.good_move_prob or 0.0), spec)
    if prover.kind == "model":
        raise PavlabError(f"candidate {spec!r}: a trained verifier cannot be ranked from labels; rank the "
                          "policy it was trained on (policy:PATH with --prover_labels)", field="candidates")
    if str(prover) not in prover_runs:
        raise PavlabError(f"candidate {spec!r} needs its labels: --prover_labels {prover}=RUN_DIR (from "
                          f"pavlab label --rollout_policy {prover.path})", field="candidates")
    rows = read_label_rows(prover_runs[str(prover)])
    for row in rows:
        if row.policy is not None and str(Path(row.policy)) != str(prover.path):
            raise PavlabError(f"labels of {spec!r} were rolled out by {row.policy!r}", field="prover_labels")
    return labeled_prover(rows)


def rank_provers(labels: Sequence[str | Path], candidates: Sequence[str] = DEFAULT_CANDIDATES,
                 prover_labels: Sequence[str] = (), resamples: int = 200, seed: int = 0,
                 use_first_pit: bool = False) -> list[ProverScore]:
    """Score every candidate on the Q^pi labels in `labels` (run folders, shard folders or files), best first.

    `prover_labels` holds `policy:PATH=RUN_DIR` for policy candidates; such a candidate is
    added to `candidates` if it is not listed there.
    """
    if resamples < 1:
        raise PavlabError(f"resamples must be >= 1, got {resamples}", field="resamples")
    prover_runs = parse_prover_labels(prover_labels)
    specs = list(dict.fromkeys([str(Prover.parse(c, kinds=CANDIDATE_KINDS, field="candidates")) for c in candidates]
                               + list(prover_runs)))
    if not specs:
        raise PavlabError("no candidate provers given", field="candidates")
    sources = {spec: candidate_values(spec, prover_runs) for spec in specs}
    transitions = collect_transitions(read_label_rows(resolve_label_paths(labels)), use_first_pit)
    if not len(transitions):
        raise PavlabError("the labels hold no transition with both ends labeled", field="labels")
    weights = bootstrap_weights(len(transitions.problem_ids), resamples, seed)
    everything = np.ones((1, len(transitions.problem_ids)))
    sums = {spec: term_sums(transitions, *source(transitions)) for spec, source in sources.items()}
    for spec, s in sums.items():
        if not s.alignment_den.sum():
            raise PavlabError(f"candidate {spec!r}: none of its labeled prefixes match the main labels "
                              "(label the same problems with the same seed policy)", field="prover_labels")
        if not s.distinguishability_den.sum():
            raise PavlabError(f"candidate {spec!r}: no state has two labeled children; label with n_cov >= 2",
                              field="labels")
    boot = {spec: s.terms(weights) for spec, s in sums.items()}
    totals = np.stack([d + a for d, a in boot.values()])
    best = np.argmax(np.where(np.isfinite(totals), totals, -np.inf), axis=0)
    scores = []
    for index, (spec, s) in enumerate(sums.items()):
        (dist,), (align,) = s.terms(everything)
        d_boot, a_boot = boot[spec]
        scores.append(ProverScore(spec, interval(float(dist), d_boot), interval(float(align), a_boot),
                                  interval(float(dist + align), d_boot + a_boot), float(np.mean(best == index)),
                                  int(s.alignment_den.sum()), s.sibling_states, int((s.alignment_den > 0).sum())))
    return sorted(scores, key=lambda score: -score.total.value)


def choose_prover(labels: Sequence[str | Path], candidates: Sequence[str] = DEFAULT_CANDIDATES,
                  prover_labels: Sequence[str] = (), resamples: int = 200, seed: int = 0) -> tuple[str, str]:
    """`--prover auto`: the top-ranked candidate's spec and a one-line reason to log.

    Call it with the label run the Q^pi verifier was trained on. The spec is as ranked: a
    `bok:K` winner is usable directly; a `policy:PATH` winner still needs its own verifier
    (`pavlab train-verifier --prover policy:PATH`, then `model:DIR`), so pass only the
    candidates the caller can use.
    """
    scores = rank_provers(labels, candidates, prover_labels, resamples, seed)
    top = scores[0]
    runner_up = f"; next {scores[1].spec} at {scores[1].total.value:.4g}" if len(scores) > 1 else ""
    reason = (f"{top.spec}: distinguishability {top.distinguishability.value:.4g} + alignment "
              f"{top.alignment.value:.4g} = {top.total.value:.4g} [95% CI {top.total.low:.4g}, {top.total.high:.4g}], "
              f"largest in {top.p_best:.0%} of {resamples} bootstrap resamples{runner_up}")
    return top.spec, reason


class RankProversConfig(Config):
    """`pavlab prover rank`: the labels to rank on, the candidates, the bootstrap, and where the ranking goes."""

    labels: list[str] = Field(..., description="Q^pi labels of pi: `pavlab label` run folders, shard folders or files")
    candidates: list[str] = Field(list(DEFAULT_CANDIDATES), description="comma-separated bok:K / policy:PATH specs, "
                                  "and on subset_sum labels the exact provers solver:P / oracle")
    prover_labels: list[str] = Field([], description="policy:PATH=RUN_DIR: labels rolled out by that policy "
                                     "(pavlab label --rollout_policy PATH); adds the candidate if missing")
    resamples: int = Field(200, ge=1, description="bootstrap resamples of problems")
    seed: int = 0
    use_first_pit: bool = Field(False, description="count first-pit rows' fresh steps as samples of pi")
    out: Path = Field(..., description="folder for ranking.json and ranking.png")

    @field_validator("labels", "candidates", "prover_labels", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        return [part.strip() for part in value.split(",") if part.strip()] if isinstance(value, str) else value


def run_rank_provers(config: RankProversConfig) -> Path:
    """The `prover rank` job: score every candidate, then write the ranking (best first) and its plot."""
    scores = rank_provers(config.labels, config.candidates, config.prover_labels, config.resamples, config.seed,
                          config.use_first_pit)
    return write_ranking(scores, config.out, config.model_dump(mode="json"))


def write_ranking(scores: list[ProverScore], out: str | Path, settings: dict[str, Any]) -> Path:
    """`ranking.json` (settings + scores, best first) and the `ranking.png` plot in `out`."""
    out = Path(out)
    write_json(out / RANKING_FILE, {"settings": settings, "ranking": [score.to_dict() for score in scores]})
    plot_ranking(scores, out / PLOT_FILE)
    return out / RANKING_FILE


def ranked_prover(ranking: str | Path, spec: str) -> dict[str, Any]:
    """`spec`'s entry in a ranking.json, with its rank and the mu = pi candidate (bok:1) when ranked: what an RL
    study reports as the bound's prediction beside the gain it measured."""
    rows = read_json(ranking).get("ranking")
    if not isinstance(rows, list) or not rows:
        raise PavlabError("no 'ranking' list (is it a `pavlab prover rank` ranking.json?)", path=ranking,
                          field="ranking")
    specs = [row.get("spec") for row in rows]
    if spec not in specs:
        raise PavlabError(f"no candidate {spec!r} (ranked: {', '.join(map(str, specs))})", path=ranking,
                          field="spec")
    rank = specs.index(spec)
    row = rows[rank]
    mu_is_pi = rows[specs.index("bok:1")]["total"] if "bok:1" in specs else None
    return {"ranking": str(ranking), "spec": spec, "rank": rank + 1, "candidates": len(specs),
            "best": specs[0], "total": row["total"], "distinguishability": row["distinguishability"],
            "alignment": row["alignment"], "mu_is_pi_total": mu_is_pi}


def error_bar(estimate: Interval) -> np.ndarray:
    """Lower and upper bar lengths (a point outside its own percentile interval gets a zero bar)."""
    return np.nan_to_num(np.clip([[estimate.value - estimate.low], [estimate.high - estimate.value]], 0, None))


def plot_ranking(scores: list[ProverScore], path: Path) -> None:
    """Distinguishability vs alignment, one labelled point per candidate with its 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for rank, score in enumerate(scores):
        d, a = score.distinguishability, score.alignment
        ax.errorbar([d.value], [a.value], xerr=error_bar(d), yerr=error_bar(a), fmt="o", capsize=3,
                    color="C3" if rank == 0 else "C0")
        ax.annotate(score.spec, (d.value, a.value), textcoords="offset points", xytext=(5, 5), fontsize=8)
    ax.set_xlabel("distinguishability  E_s Var_{a~pi}[A^mu]")
    ax.set_ylabel("alignment  E[A^mu A^pi]")
    ax.set_title("candidate provers (red: largest sum; bars: 95% bootstrap CI)", fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def resolve_prover(spec: str, labels: Path | None) -> tuple[str, str | None]:
    """`auto` -> the best-ranked BoK prover on `labels` and why (`choose_prover`); any other spec as given."""
    if spec != "auto":
        return spec, None
    if labels is None:
        raise PavlabError("--prover auto ranks candidate provers on labels: set --labels RUN_DIR (the label run "
                          "the Q^pi verifier was trained on)", field="labels")
    return choose_prover([labels])


def zero_based_ranks(values: Sequence[float]) -> np.ndarray:
    """Ranks 0..n-1 with ties sharing their mean rank (`average_ranks` counts from 1)."""
    return average_ranks(np.asarray(values, dtype=float)) - 1.0


def spearman(predicted: Sequence[float], measured: Sequence[float]) -> float:
    """Rank correlation of the bound's prediction with a measured outcome (NaN if either is constant)."""
    a, b = zero_based_ranks(predicted), zero_based_ranks(measured)
    if a.std() == 0 or b.std() == 0:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])
