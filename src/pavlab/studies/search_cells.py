"""What every search study shares: its config, its arms, and running (arm, N, seed, split) cells resumably.

Why: the paper's search claims (accuracy vs compute, the alpha sweep, the prover sweep,
exploration, PAV re-ranking) are all grids of searches that differ only in the arm (method,
step score, alpha, prover, aggregate), the budget N, the seed and the split. Each cell searches
the same problems once and is written as its own shard, so a killed study resumes cell by cell,
and one cell of one study means the same thing as the same cell of another.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from pavlab.config import PresetConfig
from pavlab.io import atomic_open, write_json
from pavlab.policies.base import GenerationConfig, PolicyBackend
from pavlab.policies.prover_spec import Prover, SearchProverSpec
from pavlab.policies.registry import build_policy
from pavlab.policies.start_task import StartTaskConfig
from pavlab.progress import progress_bar
from pavlab.runs import prepare_run
from pavlab.search.run import batch_rows, resolve_prover, run_method, summarize_search
from pavlab.search.scorers import Aggregate, StepScorer, build_scorer
from pavlab.shards import ShardedJsonl, chunk_seed
from pavlab.studies.plots import plot_seed_curves
from pavlab.tasks.base import Problem, Task
from pavlab.tasks.registry import TaskConfig, get_task
from pavlab.verifiers.step_scores import ProcessVerifier


class SearchStudyBase(PresetConfig, StartTaskConfig):
    """Fields every search study reads; `quick: true` fills unset fields from the class's QUICK preset."""

    QUICK: ClassVar[dict[str, Any]] = {"budgets": [1, 4, 16], "seeds": [0], "problems": 16}

    task: TaskConfig = TaskConfig()
    policy: str = Field(..., description="base policy pi")
    verifier: Path = Field(..., description="Q^pi verifier folder")
    prover: SearchProverSpec = Field("bok:4", description="prover mu of A^mu: bok:K, model:DIR, or auto (ranked on "
                                                    "--labels)")
    labels: Path | None = Field(None, description="label run of the Q^pi verifier: what --prover auto ranks on")
    alpha: float = Field(0.5, description="weight of A^mu in the PAV beam score")
    budgets: list[int] = Field([1, 2, 4, 8, 16, 32, 64, 128], min_length=1, description="values of N")
    seeds: list[int] = Field([0, 1, 2], min_length=1)
    candidates: int = Field(3, gt=0, description="beam: next steps per beam state (C)")
    max_depth: int = Field(10, gt=0)
    split: str = "test"
    problems: int = Field(64, gt=0)
    generation: GenerationConfig = GenerationConfig()
    device: str = "cpu"
    verifier_batch_size: int = Field(32, ge=1, description="responses per verifier forward pass (larger is faster "
                                     "for small verifiers, costs memory for large ones)")
    quick: bool = Field(False, description="small preset (few N, one seed, few problems) for demos")
    out: Path = Field(..., description="study folder")


@dataclass(frozen=True)
class SearchArm:
    """One way to search. `alpha` / `prover` None mean the study's own; `aggregate` is for best-of-N, `dedup` for
    beam."""

    method: str
    score: str = "q"
    alpha: float | None = None
    prover: str | None = None
    aggregate: Aggregate = "last"
    dedup: bool = False


@dataclass(frozen=True)
class Cell:
    """One search of the study's problems: an arm at budget N with one seed on one split."""

    arm: str
    n: int
    seed: int
    split: str


def grid(arms: Sequence[str], budgets: Sequence[int], seeds: Sequence[int], split: str) -> list[Cell]:
    """Every arm x N x seed on `split`, in a fixed order (a cell's index is its shard number)."""
    return [Cell(arm, n, seed, split) for seed in seeds for n in sorted(set(budgets)) for arm in arms]


class CellRunner:
    """Holds the policy, the problems of each split and one verifier per prover, so cells share them."""

    def __init__(self, config: SearchStudyBase, prover: str) -> None:
        self.config, self.prover = config, prover
        self.task: Task = get_task(config.task)
        self.base = ProcessVerifier.load(config.verifier, prover, batch_size=config.verifier_batch_size)
        self.verifiers: dict[str, ProcessVerifier] = {prover: self.base}
        self.scorers: dict[tuple[str, float, str], StepScorer] = {}
        self.problems: dict[str, list[Problem]] = {}
        self.policy: PolicyBackend = build_policy(config.policy, self.task, device=config.device)

    def verifier(self, spec: str) -> ProcessVerifier:
        """A BoK prover reuses the loaded Q^pi model (its Q^mu is a formula); model:DIR loads its own Q^mu."""
        if spec not in self.verifiers:
            prover = Prover.parse(spec)
            self.verifiers[spec] = (ProcessVerifier(self.base.q_pi, self.base.tokenizer, prover,
                                                    batch_size=self.config.verifier_batch_size)
                                    if prover.kind == "bok" else
                                    ProcessVerifier.load(self.config.verifier, prover, self.config.verifier_batch_size))
        return self.verifiers[spec]

    def scorer(self, arm: SearchArm) -> StepScorer:
        alpha = self.config.alpha if arm.alpha is None else arm.alpha
        prover = arm.prover or self.prover
        key = (arm.score, alpha, prover)
        if key not in self.scorers:
            self.scorers[key] = build_scorer(arm.score, self.task, self.verifier(prover), alpha)
        return self.scorers[key]

    def run(self, arm: SearchArm, cell: Cell) -> dict[str, Any]:
        """Search the split's problems with the arm at budget N; sampling seed `chunk_seed(seed, N)`."""
        config, gen = self.config, self.config.generation
        if cell.split not in self.problems:
            self.problems[cell.split] = self.task.problems(cell.split, config.problems, seed=0)
        params = gen.params(seed=chunk_seed(cell.seed, cell.n))
        batch = run_method(arm.method, self.task, self.policy, self.scorer(arm), self.problems[cell.split], cell.n,
                           params, config.candidates, config.max_depth, arm.aggregate, arm.dedup)
        return {**asdict(cell), **summarize_search(batch_rows(batch))}


@dataclass
class StudyRun:
    """The finished cells of one study, where they are, and which prover `auto` picked (and why)."""

    run_dir: Path
    table: list[dict[str, Any]]
    prover: str
    prover_choice: str | None
    task_name: str
    record: dict[str, Any]

    def values(self, metric: str, arm: str, budgets: Sequence[int], seeds: Sequence[int],
               split: str | None = None) -> list[list[float]]:
        """`metric` per seed (rows) and N (columns) for one arm: the shape `plot_seed_curves` takes."""
        index = {(c["arm"], c["n"], c["seed"]): c[metric] for c in self.table if split in (None, c["split"])}
        return [[float(index[(arm, n, seed)]) for n in budgets] for seed in seeds]

    def mean_curve(self, metric: str, arm: str, budgets: Sequence[int], seeds: Sequence[int],
                   split: str | None = None) -> list[float]:
        return [float(v) for v in np.mean(self.values(metric, arm, budgets, seeds, split), axis=0)]


def run_cells(config: SearchStudyBase, kind: str, arms: dict[str, SearchArm], cells: list[Cell]) -> StudyRun:
    """Run every unfinished cell (shard i = cells[i]) and write `{kind}.csv` (one row per cell) in `config.out`."""
    prover, reason = resolve_prover(config.prover, config.labels)
    run_dir = prepare_run(config.out, config, kind=kind)
    shards = ShardedJsonl(run_dir / "cells")
    done = shards.finished()
    runner: CellRunner | None = None
    with progress_bar(f"{kind}: {len(cells)} cells x {config.problems} problems", total=len(cells)) as advance:
        advance(len(done & set(range(len(cells)))))
        for index, cell in enumerate(cells):
            if index in done:
                continue
            runner = runner or CellRunner(config, prover)
            shards.write(index, [runner.run(arms[cell.arm], cell)])
            advance(1)
    table = list(shards.rows())
    with atomic_open(run_dir / f"{kind}.csv") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(table[0]))
        writer.writeheader()
        writer.writerows(table)
    record = {"config": config.model_dump(mode="json"), "prover": prover, "prover_choice": reason,
              "arms": {name: asdict(arm) for name, arm in arms.items()}}
    return StudyRun(run_dir, table, prover, reason, get_task(config.task).name, record)


def run_budget_grid(config: SearchStudyBase, kind: str, arms: dict[str, SearchArm], metric: str, figure: str, *,
                    xlabel: str, title: str) -> tuple[StudyRun, dict[str, list[float]]]:
    """Every arm x N x seed on `config.split`, `metric` vs N (log scale, seed band) in `figure`, seed-mean curves."""
    budgets, seeds = sorted(set(config.budgets)), config.seeds
    run = run_cells(config, kind, arms, grid(list(arms), budgets, seeds, config.split))
    plot_seed_curves(run.run_dir / figure, {arm: (budgets, run.values(metric, arm, budgets, seeds)) for arm in arms},
                     xlabel=xlabel, ylabel=metric, title=f"{title} on {run.task_name}, prover {run.prover}",
                     logx=True)
    return run, {arm: run.mean_curve(metric, arm, budgets, seeds) for arm in arms}


def finish(run: StudyRun, kind: str, summary: dict[str, Any], markdown: str) -> Path:
    """Write `{kind}.json` (config, the prover and why `auto` chose it, arms, cells, summary, Markdown) and
    `{kind}.md` (the RESULTS.md section); returns the JSON's path."""
    write_json(run.run_dir / f"{kind}.json", {**run.record, "cells": run.table, "summary": summary,
                                              "markdown": markdown})
    with atomic_open(run.run_dir / f"{kind}.md") as handle:
        handle.write(markdown)
    return run.run_dir / f"{kind}.json"


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def spread(values: Sequence[float]) -> str:
    """'mean [min, max]' over seeds, in percent."""
    return f"{pct(float(np.mean(values)))} [{pct(min(values))}, {pct(max(values))}]"


def section(title: str, command: str, run: StudyRun, claims: Sequence[tuple[str, str, str]],
            details: Sequence[str] = ()) -> str:
    """A RESULTS.md section: the command, a claim | paper | measured here table, then detail lines."""
    lines = [f"## {title}", "", f"Command: `{command}`", "", f"Task {run.task_name}, prover {run.prover}"
             + (f" (chosen by --prover auto: {run.prover_choice})" if run.prover_choice else "") + ".", "",
             "| claim | paper | measured here |", "|---|---|---|",
             *(f"| {claim} | {paper} | {measured} |" for claim, paper, measured in claims)]
    return "\n".join([*lines, "", *details]).rstrip() + "\n"


def per_budget_table(run: StudyRun, arms: Sequence[str], budgets: Sequence[int], seeds: Sequence[int],
                     metric: str = "accuracy", split: str | None = None) -> list[str]:
    """Markdown rows: `metric` mean [min, max] over seeds per arm and N, plus mean tokens generated."""
    lines = [f"| arm | N | {metric} mean [min, max] | tokens generated / problem | sequences sampled / problem "
             "(a beam step candidate is one) |",
             "|---|---|---|---|---|"]
    for arm in arms:
        values = np.asarray(run.values(metric, arm, budgets, seeds, split))
        tokens = run.mean_curve("mean_generated_tokens", arm, budgets, seeds, split)
        samples = run.mean_curve("mean_samples", arm, budgets, seeds, split)
        lines += [f"| {arm} | {n} | {spread(list(values[:, i]))} | {tokens[i]:.0f} | {samples[i]:.0f} |"
                  for i, n in enumerate(budgets)]
    return lines

