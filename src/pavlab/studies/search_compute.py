"""The powered accuracy-vs-compute study (issue 15): ORM / PRM best-of-N, Q^pi / PAV / oracle beam, pass@N.

Why a pool: best-of-N at every N reads the first N of ONE draw of max(N) i.i.d. responses per
problem and seed (the way search-and-learn subsamples), so the trained ORM, the PRM's last value
and pass@N are compared on the same responses, and the whole best-of-N family costs one draw
instead of a fresh one per arm and N. Beam arms search at each width of their own grid.

Compute is counted as tokens generated per problem and as sample-equivalents: tokens divided by
the mean length of one full i.i.d. response, so a one-step beam candidate counts as the fraction
of a sample it is (counting it as a whole sample would overcharge beam search ~6x here).

Uncertainty: a paired bootstrap over problems (the same resampled problems for every arm and
seed) gives CIs on accuracy, on the gain over ORM best-of-N at equal tokens, and on the compute
ratio to match ORM best-of-max(N), read off curves interpolated on log-tokens.
Output in OUT: `pool/` shards, `cells/<arm>/` shards (one folder per beam or DVTS arm, so an arm
added later joins a finished study without redoing it), `search_compute.{json,md}`,
`accuracy_vs_tokens.png` and `accuracy_vs_n.png`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from pavlab.io import atomic_open, write_json
from pavlab.policies.base import SamplingParams
from pavlab.policies.prover_spec import Prover
from pavlab.progress import progress_bar
from pavlab.runs import prepare_run
from pavlab.search.run import resolve_prover, run_method
from pavlab.search.scorers import VerifierScorer
from pavlab.search.selection import pick_highest
from pavlab.shards import ShardedJsonl, chunk_seed
from pavlab.studies.intervals import percentile_interval
from pavlab.studies.search_cells import CellRunner, SearchArm, SearchStudyBase, pct
from pavlab.studies.search_efficiency import accuracy_at, efficiency
from pavlab.verifiers.step_scores import ProcessVerifier

KIND = "search_compute"
BEAM_ARMS: dict[str, SearchArm] = {"q_beam": SearchArm("beam", "q"), "pav_beam": SearchArm("beam", "q+a"),
                             "oracle_beam": SearchArm("beam", "oracle")}
DVTS_ARMS: dict[str, SearchArm] = {"q_dvts": SearchArm("dvts", "q"), "pav_dvts": SearchArm("dvts", "q+a")}
POOL_ARMS = ("orm_best_of_n", "prm_best_of_n", "pass_at_n")


class SearchComputeConfig(SearchStudyBase):
    """Three seeds x 500 problems by default: enough to resolve a few points between arms."""

    orm: Path | None = Field(None, description="trained ORM folder; without it the PRM's last value is the ORM")
    problems: int = Field(500, gt=0)
    beam_budgets: list[int] | None = Field(None, description="beam widths (default: budgets)")
    dedup: bool = Field(False, description="beam: identical candidates count once (off: on the subset-sum testbed "
                        "it was no better, and worse at the largest width: RESULTS.md section 3)")
    compare_dedup: bool = Field(True, description="also run Q^pi and PAV beam with the other dedup setting")
    oracle: bool = Field(True, description="run the oracle-scored beam ceiling (tasks with an exact oracle)")
    dvts_budgets: list[int] = Field([], description="DVTS budgets N, each split into N/M subtrees (search-and-learn's "
                                    "method) scored by q and by q+a; empty: no DVTS arms")
    dvts_subtree: int = Field(4, gt=0, description="DVTS: candidates M per subtree state (N must be a multiple)")
    chunk_problems: int = Field(50, gt=0, description="problems per pool shard")
    bootstrap: int = Field(1000, ge=100, description="paired bootstrap resamples over problems")
    parts: int = Field(1, ge=1, description="split the pending jobs over this many processes on the same OUT")
    part: int = Field(0, ge=0, description="which of the `parts` this process runs (0-based); the summary is "
                      "written by whichever process finds every job done")

    @model_validator(mode="after")
    def _whole_subtrees(self) -> SearchComputeConfig:
        uneven = [n for n in self.dvts_budgets if n % self.dvts_subtree]
        if uneven:
            raise ValueError(f"DVTS budgets {uneven} are not multiples of dvts_subtree {self.dvts_subtree}")
        return self


@dataclass
class Curves:
    """Per arm and N: correct flags and tokens, each [seeds, problems]."""

    correct: dict[str, dict[int, np.ndarray]]
    tokens: dict[str, dict[int, np.ndarray]]
    unit_tokens: float  # mean tokens of one full i.i.d. response: one sample-equivalent

    def budgets(self, arm: str) -> list[int]:
        return sorted(self.correct[arm])


def _pool_rows(runner: CellRunner, orm: ProcessVerifier, seed: int, chunk: int, n: int) -> list[dict[str, Any]]:
    """`n` i.i.d. responses per problem of one chunk, graded and scored by the ORM and the PRM's last value."""
    config, gen, task = runner.config, runner.config.generation, runner.task
    problems = runner.problems[config.split][chunk * config.chunk_problems:(chunk + 1) * config.chunk_problems]
    params = SamplingParams(gen.temperature, gen.top_p, gen.max_new_tokens, "response", seed=chunk_seed(seed, chunk))
    groups = runner.policy.sample([task.prompt(p) for p in problems], [""] * len(problems), n, params)
    flat_problems = [p for p in problems for _ in range(n)]
    steps = [task.split_steps(c.text) for group in groups for c in group]
    finals = {name: [s.final for s in VerifierScorer(verifier, task, "q").score(flat_problems, steps)]
              for name, verifier in (("orm", orm), ("prm", runner.base))}
    return [{"problem_id": problem.id, "seed": seed,
             "correct": [task.is_correct(c.text, problem) for c in group],
             "tokens": [len(c.token_ids) for c in group],
             "orm": finals["orm"][i * n:(i + 1) * n], "prm": finals["prm"][i * n:(i + 1) * n]}
            for i, (problem, group) in enumerate(zip(problems, groups, strict=True))]


def _tree_row(runner: CellRunner, arm: SearchArm, name: str, width: int, seed: int) -> dict[str, Any]:
    """One beam or DVTS cell: per-problem outcomes and the step-level diagnostics."""
    config, gen = runner.config, runner.config.generation
    params = SamplingParams(gen.temperature, gen.top_p, gen.max_new_tokens, seed=chunk_seed(seed, width))
    candidates = config.dvts_subtree if arm.method == "dvts" else config.candidates
    batch = run_method(arm.method, runner.task, runner.policy, runner.scorer(arm), runner.problems[config.split],
                       width, params, candidates, config.max_depth, dedup=arm.dedup)
    return {"arm": name, "n": width, "seed": seed, "correct": [o.correct for o in batch.outcomes],
            "tokens": [o.generated_tokens for o in batch.outcomes], "samples": [o.samples for o in batch.outcomes],
            "pass_at_n": [o.pass_at_n for o in batch.outcomes],
            "distinct_first_depth": float(np.mean([o.diagnostics["distinct_per_depth"][0]
                                                   for o in batch.outcomes])),
            "share_depths_q_differs": sum(o.diagnostics["depths_q_differs"] for o in batch.outcomes)
            / max(1, sum(o.diagnostics["depths"] for o in batch.outcomes))}


def beam_arms(config: SearchComputeConfig) -> dict[str, SearchArm]:
    arms = {name: SearchArm(arm.method, arm.score, dedup=config.dedup) for name, arm in BEAM_ARMS.items()
            if config.oracle or name != "oracle_beam"}
    if config.compare_dedup:
        suffix = "_no_dedup" if config.dedup else "_dedup"
        arms |= {f"{name}{suffix}": SearchArm("beam", BEAM_ARMS[name].score, dedup=not config.dedup)
                 for name in ("q_beam", "pav_beam")}
    return arms


def headline_arms(config: SearchComputeConfig) -> dict[str, str]:
    """The PAV and Q^pi beam arms the summary's headline reads: those in the library's default
    setting (no dedup), whichever setting the study's own arms use."""
    suffix = "_no_dedup" if config.dedup and config.compare_dedup else ""
    return {"pav": f"pav_beam{suffix}", "q": f"q_beam{suffix}"}


def run_shards(config: SearchComputeConfig, run_dir: Path, prover: str) -> tuple[list[dict], list[dict]] | None:
    """Every pool chunk and beam or DVTS cell not yet on disk (this process's part of them), resumably;
    returns (pool rows, beam and DVTS rows), or None while other parts are still running.

    Each tree arm has its own shard folder, so adding an arm (DVTS, a dedup variant) to a finished
    study reuses everything already run."""
    budgets = sorted(set(config.budgets))
    widths = sorted(set(config.beam_budgets or config.budgets))
    trees = {name: (arm, widths) for name, arm in beam_arms(config).items()}
    trees |= {name: (arm, sorted(set(config.dvts_budgets))) for name, arm in DVTS_ARMS.items()
              if config.dvts_budgets}
    n_chunks = -(-config.problems // config.chunk_problems)
    pool_jobs = [(seed, chunk) for seed in config.seeds for chunk in range(n_chunks)]
    pool = ShardedJsonl(run_dir / "pool")
    lists = [(pool_jobs, pool, None)]
    lists += [([(seed, n) for seed in config.seeds for n in ns], ShardedJsonl(run_dir / "cells" / name), name)
              for name, (_, ns) in trees.items()]
    total = sum(len(jobs) for jobs, _, _ in lists)
    runner: CellRunner | None = None
    orm: ProcessVerifier | None = None
    with progress_bar(f"{KIND}: {len(pool_jobs)} pool chunks + {total - len(pool_jobs)} beam/DVTS cells",
                      total=total) as advance:
        offset = 0
        for jobs, shards, name in lists:
            done = shards.finished()
            for index, (seed, unit) in enumerate(jobs):
                if index in done or (index + offset) % config.parts != config.part:
                    advance(1)
                    continue
                if runner is None:
                    runner = CellRunner(config, prover)
                    runner.problems[config.split] = runner.task.problems(config.split, config.problems, seed=0)
                    orm = (ProcessVerifier.load(config.orm, Prover.parse("bok:1"), config.verifier_batch_size)
                           if config.orm else runner.base)
                if name is None:
                    shards.write(index, _pool_rows(runner, orm, seed, unit, budgets[-1]))  # type: ignore[arg-type]
                else:
                    shards.write(index, [_tree_row(runner, trees[name][0], name, unit, seed)])
                advance(1)
            offset += len(jobs)
    if any(len(shards.finished()) < len(jobs) for jobs, shards, _ in lists):
        return None
    return list(pool.rows()), [row for _, shards, _ in lists[1:] for row in shards.rows()]


def collect_curves(pool: list[dict], cells: list[dict], budgets: list[int], seeds: list[int]) -> Curves:
    """Per-problem outcomes of every arm and N; the best-of-N family read off the pool's first N samples."""
    correct: dict[str, dict[int, np.ndarray]] = {arm: {} for arm in POOL_ARMS}
    tokens: dict[str, dict[int, np.ndarray]] = {arm: {} for arm in POOL_ARMS}
    by_seed = {seed: [row for row in pool if row["seed"] == seed] for seed in seeds}
    for n in budgets:
        for arm in POOL_ARMS:
            flags, costs = [], []
            for seed in seeds:
                seed_flags, seed_costs = [], []
                for row in by_seed[seed]:
                    first = row["correct"][:n]
                    if arm == "pass_at_n":
                        seed_flags.append(any(first))
                    else:
                        chosen = pick_highest(row["orm" if arm == "orm_best_of_n" else "prm"][:n])
                        seed_flags.append(bool(first[chosen]))  # type: ignore[index]
                    seed_costs.append(sum(row["tokens"][:n]))
                flags.append(seed_flags)
                costs.append(seed_costs)
            correct[arm][n], tokens[arm][n] = np.asarray(flags, float), np.asarray(costs, float)
    by_cell = {(row["arm"], row["n"], row["seed"]): row for row in cells}
    for arm, n in dict.fromkeys((arm, n) for arm, n, _ in by_cell):
        correct.setdefault(arm, {})[n] = np.asarray([by_cell[(arm, n, s)]["correct"] for s in seeds], float)
        tokens.setdefault(arm, {})[n] = np.asarray([by_cell[(arm, n, s)]["tokens"] for s in seeds], float)
    unit = float(np.mean([t for row in pool for t in row["tokens"]]))
    return Curves(correct, tokens, unit)


def _curve(curves: Curves, arm: str, problems: np.ndarray | slice) -> tuple[list[float], list[float]]:
    """(mean tokens, mean accuracy) over N for one arm on the given problem indices (seeds averaged)."""
    ns = curves.budgets(arm)
    return ([float(curves.tokens[arm][n][:, problems].mean()) for n in ns],
            [float(curves.correct[arm][n][:, problems].mean()) for n in ns])


def up_to_peak(curve: tuple[list[float], list[float]]) -> tuple[list[float], list[float]]:
    """The curve cut at its most accurate point (the first one, on ties).

    Why: an ORM's best-of-N can fall as N grows (more samples, more wrong answers it scores
    highest); matching its last point then flatters a method, matching its peak does not.
    """
    peak = int(np.argmax(curve[1]))
    return curve[0][:peak + 1], curve[1][:peak + 1]


def equal_compute_gain(baseline: tuple[list[float], list[float]], method: tuple[list[float], list[float]]
                       ) -> tuple[float | None, float | None]:
    """(gain, tokens): method minus baseline accuracy at the largest token budget both curves cover."""
    shared = min(max(baseline[0]), max(method[0]))
    if shared < max(min(baseline[0]), min(method[0])):
        return None, None
    base, meth = accuracy_at(*baseline, shared), accuracy_at(*method, shared)
    return (None if base is None or meth is None else meth - base), shared


def summarize(curves: Curves, resamples: int, headline: dict[str, str] | None = None, seed: int = 0
              ) -> dict[str, Any]:
    """Point estimates on all problems, and paired-bootstrap CIs over problems; the headline fields
    compare `headline["pav"]` with ORM best-of-N and with `headline["q"]`."""
    headline = headline or {"pav": "pav_beam", "q": "q_beam"}
    problems = next(iter(curves.correct["orm_best_of_n"].values())).shape[1]
    rng = np.random.default_rng(seed)
    draws = [rng.integers(problems, size=problems) for _ in range(resamples)]
    everything = slice(None)
    arms = list(curves.correct)
    per_arm: dict[str, list[dict[str, Any]]] = {}
    for arm in arms:
        rows = []
        for n in curves.budgets(arm):
            flags = curves.correct[arm][n]
            boot = [float(flags[:, d].mean()) for d in draws]
            tokens = float(curves.tokens[arm][n].mean())
            rows.append({"n": n, "accuracy": float(flags.mean()), "accuracy_ci": percentile_interval(boot)[0],
                         "tokens_per_problem": tokens, "samples_per_problem": tokens / curves.unit_tokens})
        per_arm[arm] = rows

    def readings(method: str, baseline: str, problems_index: np.ndarray | slice) -> tuple[Any, Any, Any]:
        base, meth = _curve(curves, baseline, problems_index), _curve(curves, method, problems_index)
        return efficiency(base, meth), equal_compute_gain(base, meth), efficiency(up_to_peak(base), meth)

    summary: dict[str, Any] = {"problems": problems, "seeds": next(iter(curves.correct["orm_best_of_n"].values()))
                               .shape[0], "unit_tokens": curves.unit_tokens, "arms": per_arm, "vs_orm": {}}
    for method in [arm for arm in arms if arm not in POOL_ARMS]:
        point, (gain, at_tokens), peak = readings(method, "orm_best_of_n", everything)
        boot = [readings(method, "orm_best_of_n", d) for d in draws]
        ratio_ci, ratio_missing = percentile_interval([b[0]["ratio"] for b in boot])
        peak_ci, peak_missing = percentile_interval([b[2]["ratio"] for b in boot])
        gain_ci, _ = percentile_interval([b[1][0] for b in boot])
        summary["vs_orm"][method] = {"compute_ratio": point["ratio"], "compute_ratio_bound": point["bound"],
                                     "compute_ratio_ci": ratio_ci, "compute_ratio_unreached_share": ratio_missing,
                                     "target_accuracy": point["target_accuracy"],
                                     "compute_ratio_vs_orm_peak": peak["ratio"], "orm_peak_bound": peak["bound"],
                                     "orm_peak_accuracy": peak["target_accuracy"],
                                     "compute_ratio_vs_orm_peak_ci": peak_ci,
                                     "compute_ratio_vs_orm_peak_unreached_share": peak_missing,
                                     "gain_at_equal_tokens": gain, "gain_ci": gain_ci, "at_tokens": at_tokens}
    pav_arm, q_arm = headline["pav"], headline["q"]
    pav = summary["vs_orm"].get(pav_arm, {})
    summary.update({"headline_arms": headline, "accuracy_gain_vs_orm": pav.get("gain_at_equal_tokens"),
                    "accuracy_gain_ci": pav.get("gain_ci"), "compute_ratio_vs_orm": pav.get("compute_ratio"),
                    "compute_ratio_ci": pav.get("compute_ratio_ci"), "compute_ratio_vs_q_beam": None,
                    "compute_ratio_vs_q_beam_ci": None, "accuracy_gain_vs_q_beam": None,
                    "accuracy_gain_vs_q_beam_ci": None})
    if pav_arm in curves.correct and q_arm in curves.correct:
        point, (gain, _), _ = readings(pav_arm, q_arm, everything)
        boot = [readings(pav_arm, q_arm, d) for d in draws]
        summary.update({"compute_ratio_vs_q_beam": point["ratio"],
                        "compute_ratio_vs_q_beam_ci": percentile_interval([b[0]["ratio"] for b in boot])[0],
                        "accuracy_gain_vs_q_beam": gain,
                        "accuracy_gain_vs_q_beam_ci": percentile_interval([b[1][0] for b in boot])[0]})
    return summary


def plot(curves: Curves, summary: dict[str, Any], path: Path, x: str, title: str) -> Path:
    """Accuracy against tokens (or N) per arm, with the bootstrap CI as a band."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for arm, rows in summary["arms"].items():
        xs = [row["tokens_per_problem"] if x == "tokens" else row["n"] for row in rows]
        line, = axes.plot(xs, [row["accuracy"] for row in rows], marker="o", ms=3, label=arm)
        axes.fill_between(xs, [row["accuracy_ci"][0] for row in rows], [row["accuracy_ci"][1] for row in rows],
                          color=line.get_color(), alpha=0.15)
    axes.set_xscale("log", base=2)
    axes.set(xlabel="tokens generated per problem" if x == "tokens" else "budget N (samples, or beam width)",
             ylabel="accuracy", title=title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def _ratio(value: float | None, bound: str | None = None) -> str:
    if value is None:
        return "never matched" if bound != "trivial" else "n/a (baseline 0%)"
    return f"{'>= ' if bound == 'at_least' else ''}{value:.2f}x"


def _points(gain: float | None) -> str:
    return "n/a" if gain is None else f"{100 * gain:+.1f} pts"


def _interval(ci: list[float] | None, scale: float = 1.0, suffix: str = "") -> str:
    """' [lo, hi]' of a CI (times `scale`; 1 decimal for percentages, 2 for ratios), or '' without one."""
    if ci is None:
        return ""
    digits = 1 if scale > 1 else 2
    return f" [{ci[0] * scale:.{digits}f}, {ci[1] * scale:.{digits}f}{suffix}]"


def markdown(summary: dict[str, Any], command: str, prover: str, alpha: float) -> str:
    vs = summary["vs_orm"]
    arms = summary["headline_arms"]
    pav = vs.get(arms["pav"], {})
    top = summary["arms"]["orm_best_of_n"][-1]
    gain = pav.get("gain_at_equal_tokens")
    lines = [f"## Test-time search: accuracy vs compute ({summary['problems']} problems x {summary['seeds']} seeds)",
             "", f"Command: `{command}`", "",
             f"Prover {prover}, alpha {alpha}. One sample-equivalent = {summary['unit_tokens']:.1f} tokens (the mean "
             "full i.i.d. response). CIs: paired bootstrap over problems, 95%. The claims read PAV beam = "
             f"`{arms['pav']}` and Q^pi beam = `{arms['q']}`.", "",
             "| claim | paper | measured here |", "|---|---|---|",
             f"| PAV beam vs ORM best-of-N, accuracy at equal tokens | +8-10% | "
             f"{_points(gain)}{_interval(pav.get('gain_ci'), 100)}"
             f" at {pav.get('at_tokens') or 0:.0f} tokens |",
             f"| PAV beam: compute to match ORM best-of-{top['n']} ({pct(top['accuracy'])}) | 1.5-5x (text: 10x) | "
             f"{_ratio(pav.get('compute_ratio'), pav.get('compute_ratio_bound'))}"
             f"{_interval(pav.get('compute_ratio_ci'))} |",
             f"| PAV beam: compute to match ORM best-of-N at its peak ({pct(pav.get('orm_peak_accuracy'))}) | "
             f"(not reported) | {_ratio(pav.get('compute_ratio_vs_orm_peak'), pav.get('orm_peak_bound'))}"
             f"{_interval(pav.get('compute_ratio_vs_orm_peak_ci'))} |",
             f"| PAV beam vs Q^pi beam: compute to match | 8x | {_ratio(summary['compute_ratio_vs_q_beam'])}"
             f"{_interval(summary.get('compute_ratio_vs_q_beam_ci'))} |",
             f"| PAV beam vs Q^pi beam, accuracy at equal tokens | (not reported) | "
             f"{_points(summary['accuracy_gain_vs_q_beam'])}{_interval(summary['accuracy_gain_vs_q_beam_ci'], 100)} |",
             "",
             "| arm | N | accuracy [95% CI] | tokens / problem | sample-equivalents / problem |",
             "|---|---|---|---|---|"]
    for arm, rows in summary["arms"].items():
        lines += [f"| {arm} | {row['n']} | {pct(row['accuracy'])}{_interval(row['accuracy_ci'], 100, '%')} | "
                  f"{row['tokens_per_problem']:.0f} | {row['samples_per_problem']:.1f} |" for row in rows]
    lines += ["", "Every searched arm against ORM best-of-N:", "",
              "| arm | accuracy gain at equal tokens [95% CI] | at tokens | compute to match ORM's peak [95% CI] |",
              "|---|---|---|---|"]
    lines += [f"| {arm} | {_points(row['gain_at_equal_tokens'])}{_interval(row['gain_ci'], 100)} | "
              f"{row['at_tokens'] or 0:.0f} | "
              f"{_ratio(row['compute_ratio_vs_orm_peak'], row['orm_peak_bound'])}"
              f"{_interval(row['compute_ratio_vs_orm_peak_ci'])} |" for arm, row in vs.items()]
    return "\n".join(lines) + "\n"


def run_search_compute(config: SearchComputeConfig, command: str = "pavlab study search-compute") -> Path | None:
    """Run (or resume) the study and write its JSON summary, Markdown section and figures into `config.out`;
    returns the path of `search_compute.json`, or None when this process ran its part of the jobs (`parts` > 1)
    and other parts are still running (the last part to finish writes the summary)."""
    prover, _ = resolve_prover(config.prover, config.labels)
    run_dir = prepare_run(config.out, config, kind=KIND)
    shards = run_shards(config, run_dir, prover)
    if shards is None:
        return None
    pool, cells = shards
    curves = collect_curves(pool, cells, sorted(set(config.budgets)), config.seeds)
    summary = summarize(curves, config.bootstrap, headline_arms(config))
    diagnostics = {row["arm"]: {} for row in cells}
    for row in cells:
        diagnostics[row["arm"]].setdefault(str(row["n"]), []).append(
            {"distinct_first_depth": row["distinct_first_depth"],
             "share_depths_q_differs": row["share_depths_q_differs"]})
    summary["beam_diagnostics"] = {arm: {n: {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}
                                         for n, rows in by_n.items()} for arm, by_n in diagnostics.items()}
    title = f"search on {config.task.name}: prover {prover}, alpha {config.alpha}"
    summary["figures"] = [str(plot(curves, summary, run_dir / "accuracy_vs_tokens.png", "tokens", title)),
                          str(plot(curves, summary, run_dir / "accuracy_vs_n.png", "n", title))]
    text = markdown(summary, command, prover, config.alpha)
    write_json(run_dir / f"{KIND}.json", {"config": config.model_dump(mode="json"), "prover": prover,
                                          "summary": summary, "markdown": text})
    with atomic_open(run_dir / f"{KIND}.md") as handle:
        handle.write(text)
    return run_dir / f"{KIND}.json"
