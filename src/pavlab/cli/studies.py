"""`pavlab study ...`: the paper's comparisons over seeds, written as JSON, CSV, a figure and Markdown."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console

from pavlab.cli import app
from pavlab.cli.common import config_command
from pavlab.io import read_json
from pavlab.studies.rl import PlantedRLStudyConfig, run_planted_rl_study
from pavlab.studies.rl_countdown import CountdownRLStudyConfig, run_countdown_rl_study
from pavlab.studies.search import SearchStudyConfig, run_search_study
from pavlab.studies.search_alpha import AlphaSweepConfig, run_alpha_sweep
from pavlab.studies.search_cells import SearchStudyBase
from pavlab.studies.search_compute import SearchComputeConfig, run_search_compute
from pavlab.studies.search_exploration import ExplorationConfig, run_exploration_study
from pavlab.studies.search_provers import ProverSweepConfig, run_prover_sweep
from pavlab.studies.search_rerank import RerankConfig, run_rerank_study
from pavlab.studies.testbed import TestbedStudyConfig, run_testbed_study
from pavlab.studies.verifiers import VerifierStudyConfig, run_verifier_study

console = Console()
study_app = typer.Typer(no_args_is_help=True, help="Studies: the paper's comparisons, rerunnable with seeds.")
app.add_typer(study_app, name="study")


@config_command(study_app, "rl-planted", PlantedRLStudyConfig)
def rl_planted(config: PlantedRLStudyConfig) -> None:
    """Outcome-only RL vs PAV-RL with mu_gamma provers (and the Q + alpha*Q^mu ablation) on the planted task."""
    study_file = run_planted_rl_study(config, command=invoked_command())
    console.print(read_json(study_file)["summary"]["markdown"], highlight=False, markup=False, soft_wrap=True)
    console.print(f"{study_file.name}, rl_planted.csv and rl_planted.png in {config.out}")


@config_command(study_app, "rl-countdown", CountdownRLStudyConfig)
def rl_countdown(config: CountdownRLStudyConfig) -> None:
    """ORM-RL vs PAV-RL (alpha sweep, Q + alpha*Q^mu ablation) on the subset-sum testbed: curves, Pass@N,
    beyond best-of-256."""
    study = read_json(run_countdown_rl_study(config, command=invoked_command()))
    console.print(study["summary"]["markdown"], highlight=False, markup=False, soft_wrap=True)
    figures = "rl_countdown.png" + ("" if study["evaluation"] is None else " and rl_countdown_pass_at_n.png")
    console.print(f"rl_countdown.json, .csv, .md, {figures} in {config.out}")


@config_command(study_app, "testbed", TestbedStudyConfig)
def testbed_study(config: TestbedStudyConfig) -> None:
    """Is the testbed policy in the paper's regime? pass@1 / pass@N, steps, legal choices, how responses end."""
    result = read_json(run_testbed_study(config))
    console.print_json(data={k: v for k, v in result.items() if k != "pass_at_k"})
    console.print(f"testbed.json and samples.jsonl in {config.out}")


@config_command(study_app, "verifiers", VerifierStudyConfig)
def verifiers_study(config: VerifierStudyConfig) -> None:
    """ORM, Q^pi PRM and Bo-K PAV on growing label sets: held-out outcome / dead-end AUC (bootstrap CIs), ECE."""
    summary = read_json(run_verifier_study(config))
    for kind in ("orm", "prm", "pav"):
        row = summary[kind]
        console.print(f"{kind}: outcome AUC {row['outcome_auc']:.3f} {row['outcome_auc_ci']}, dead-end AUC "
                      f"{row['dead_end_auc']}, ECE {row['ece']:.3f} ({row['labeled_prefixes']} labeled prefixes)",
                      highlight=False)
    console.print(f"verifiers.json and verifier_scaling.png in {config.out}")


def invoked_command() -> str:
    """The command line as typed (for the Markdown section: anyone can rerun it)."""
    return " ".join(["pavlab", *sys.argv[1:]])


def report(study_file: Path | None, config: SearchStudyBase) -> None:
    """Print the prover `auto` chose, the Markdown section, and where the files are, from the study's JSON
    (`study_file`; None: one part of a study split over processes, while other parts still run)."""
    if study_file is None:
        part = f"part {config.part} of {config.parts}" if isinstance(config, SearchComputeConfig) else "this part"
        console.print(f"{part} done; the other parts are still running (rerun any part to write the summary once "
                      "all are done)", highlight=False)
        return
    result = read_json(study_file)
    # search-compute's JSON records the prover, not why `auto` chose it; the other studies record both
    choice = result.get("prover_choice") or (result["prover"] if config.prover == "auto" else None)
    if choice:
        console.print(f"--prover auto chose {choice}", highlight=False, markup=False)
    console.print(result["markdown"], highlight=False, markup=False)
    console.print(f"{study_file.name}, {study_file.with_suffix('.md').name} and " + ", ".join(
        Path(f).name for f in result["summary"]["figures"]) + f" in {config.out}", highlight=False)


SEARCH_STUDIES: tuple[tuple[str, type[SearchStudyBase], Callable[..., Path | None], str, str], ...] = (
    ("search-compute", SearchComputeConfig, run_search_compute, "search_compute",
     "Accuracy vs tokens with power: ORM / PRM best-of-N and pass@N from one pool, Q^pi / PAV / oracle beam; "
     "paired-bootstrap CIs on gains and compute ratios."),
    ("search-grid", SearchStudyConfig, run_search_study, "search_study",
     "Accuracy vs N and vs tokens per (arm, N, seed) cell: ORM best-of-N, Q^pi beam, PAV beam (the demo's grid)."),
    ("search-alpha", AlphaSweepConfig, run_alpha_sweep, "search_alpha",
     "Alpha sweep of PAV beam search on the val split, then the chosen alpha on the test split."),
    ("search-provers", ProverSweepConfig, run_prover_sweep, "search_provers",
     "PAV beam search with Bo1..Bo32 provers (and --extra_provers model:DIR checkpoints) at every N."),
    ("search-exploration", ExplorationConfig, run_exploration_study, "search_exploration",
     "Pass@N of PAV beam vs Q^pi beam vs i.i.d. sampling."),
    ("search-rerank", RerankConfig, run_rerank_study, "search_rerank",
     "Best-of-N picked by the PAV's effective rewards vs by the ORM, on the same samples."),
)


def register_search_study(name: str, config_cls: type[SearchStudyBase], run: Callable[..., Path | None],
                          kind: str, help_text: str) -> None:
    """`pavlab study NAME [--quick] [--field value ...]`: run the study, print its Markdown section."""
    def command(config: SearchStudyBase) -> None:
        report(run(config, invoked_command()), config)

    command.__doc__ = f"{help_text} Resumable (rerun the same command); --quick for a small demo preset."
    config_command(study_app, name, config_cls, section=kind)(command)


for _spec in SEARCH_STUDIES:
    register_search_study(*_spec)
