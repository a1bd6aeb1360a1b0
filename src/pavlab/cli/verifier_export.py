"""`pavlab verifier export` hands a trained verifier to any transformers or vLLM stack; `verifier shipped`
copies the learned PAV pavlab ships."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from pavlab.cli import app
from pavlab.cli.common import config_command
from pavlab.verifiers.shipped import ShippedPavConfig, run_shipped_pav

console = Console()
verifier_app = typer.Typer(no_args_is_help=True, help="Verifier folders: export to standard formats; the shipped PAV.")
app.add_typer(verifier_app, name="verifier")


@verifier_app.command("export")
def export_command(verifier: Path = typer.Argument(..., help="pavlab verifier folder (from train-verifier)"),
                   out: Path = typer.Option(..., "--out", help="folder for the Hugging Face model")) -> None:
    """Write VERIFIER as a standard AutoModelForTokenClassification folder (one label: the value logit; sigmoid
    at a step's separator token is the verifier's value), with its tokenizer and a prm.json, so
    `--verifier OUT` scores identically in every pavlab command and vLLM can serve it as a pooling model."""
    from pavlab.verifiers.export import VerifierExportConfig, run_verifier_export

    out = run_verifier_export(VerifierExportConfig(verifier=verifier, out=out))
    console.print(f"wrote {out}: AutoModelForTokenClassification.from_pretrained('{out}') loads it; "
                  f"--verifier {out} scores with it", highlight=False, soft_wrap=True)


@config_command(verifier_app, "shipped", ShippedPavConfig)
def shipped_command(config: ShippedPavConfig) -> None:
    """Copy a PAV pavlab ships (its pav.json records how it was built)."""
    console.print(f"copied the shipped PAV {config.name} to {run_shipped_pav(config)}: --prover model:{config.out}",
                  highlight=False, soft_wrap=True)
