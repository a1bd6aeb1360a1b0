"""Data in and out: ProcessBench-format files built with an exact oracle, and PRM label files in the field's formats."""

from __future__ import annotations

import typer
from rich.console import Console

from pavlab.cli import app
from pavlab.cli.common import config_command
from pavlab.labeling.exchange import LabelsExportConfig, LabelsImportConfig, run_labels_export, run_labels_import
from pavlab.verifiers.processbench import ProcessBenchBuildConfig, run_processbench_build

console = Console()
processbench_app = typer.Typer(no_args_is_help=True, help="ProcessBench-format files ({problem, steps, label}).")
app.add_typer(processbench_app, name="processbench")


@config_command(processbench_app, "build", ProcessBenchBuildConfig, section="processbench_build")
def processbench_build(config: ProcessBenchBuildConfig) -> None:
    """Label sampled responses with the task's exact oracle (label = first step after which the task can no longer
    be solved, -1 for a correct solution) and keep a balanced set: per_class of each class."""
    run_processbench_build(config, echo=console.print)


labels_app = typer.Typer(no_args_is_help=True, help="PRM label files to and from TRL, Math-Shepherd, soft and PRM800K "
                                                   "rows.")
app.add_typer(labels_app, name="labels")


@config_command(labels_app, "export", LabelsExportConfig, section="labels_export")
def labels_export(config: LabelsExportConfig) -> None:
    """Write pavlab labels as TRL stepwise, Math-Shepherd, soft-value or PRM800K rows (hard labels: q_hat > threshold).
    """
    run_labels_export(config, echo=console.print)


@config_command(labels_app, "import", LabelsImportConfig, section="labels_import")
def labels_import(config: LabelsImportConfig) -> None:
    """Read TRL stepwise, Math-Shepherd, soft-value or PRM800K rows into a pavlab label file (train-verifier reads it).
    """
    run_labels_import(config, echo=console.print)
