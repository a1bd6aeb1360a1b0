"""The demo report: every number is read from the saved results of a `pavlab demo` run.

`build_report(run_dir)` turns `demo.json` and the stage folders it names into a `Document`;
`write_report(run_dir)` renders it to `report.md` and `report.html`. Nothing is computed here
that a stage did not save, so `pavlab report RUN_DIR` regenerates the same report any time.
"""

from __future__ import annotations

from pathlib import Path
from statistics import mean
from typing import Any

from pavlab.errors import PavlabError
from pavlab.io import atomic_open, read_json
from pavlab.report.document import Code, Document, Image, Markdown, Section, Table, to_html, to_markdown
from pavlab.studies.rl_curves import ratio_text


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _stages(run_dir: Path) -> dict[str, Path]:
    manifest = run_dir / "demo.json"
    if not manifest.is_file():
        raise PavlabError("not a demo run folder (no demo.json); run `pavlab demo --out DIR` first", path=run_dir)
    return {name: Path(path) for name, path in read_json(manifest)["stages"].items()}


def search_means(cells: list[dict[str, Any]]) -> dict[str, dict[int, dict[str, float]]]:
    """Mean over seeds of accuracy, pass@N and tokens for every (arm, N)."""
    grouped: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for cell in cells:
        grouped.setdefault((cell["arm"], int(cell["n"])), []).append(cell)
    out: dict[str, dict[int, dict[str, float]]] = {}
    for (arm, n), group in grouped.items():
        out.setdefault(arm, {})[n] = {key: mean(float(c[key]) for c in group)
                                      for key in ("accuracy", "pass_at_n", "mean_generated_tokens")}
        out[arm][n]["seeds"] = len(group)
    return out


def _policy_section(stages: dict[str, Path]) -> Section:
    summary = read_json(stages["samples"] / "pass_at_k.json")
    testbed = read_json(stages["policy"] / "testbed.json")
    ks = [key for key in summary if key.startswith(("pass@", "maj@"))]
    return Section("Testbed policy (countdown)", [
        f"A {testbed.get('parameters', '?')}-parameter Llama trained from scratch by SFT on noisy-solver traces "
        f"in {testbed.get('train_seconds', 0):.0f} s; sampled at temperature 1 on {summary['problems']} held-out "
        f"problems x {summary['samples_per_problem']} samples.",
        Table(["metric", "value"], [[k, pct(summary[k])] for k in ks]),
    ])


def _verifier_section(stages: dict[str, Path]) -> Section:
    rows, blocks = [], []
    for kind in ("orm", "prm"):
        metrics = read_json(stages[f"eval_{kind}"] / "metrics.json")
        oracle = metrics.get("oracle", {})
        first = oracle.get("first_error", {}).get("value", {})
        rows.append([kind.upper() if kind == "orm" else "Q^pi PRM (PAV = Bo4 transform)", str(metrics["responses"]),
                     num(metrics["calibration"]["ece"]), num(metrics["calibration"]["brier"]),
                     num(metrics["outcome_auc"]), num(oracle.get("dead_end_auc")), num(first.get("f1"))])
        png = stages[f"eval_{kind}"] / "reliability.png"
        if png.exists():
            blocks.append(Image(png, f"reliability diagram, {kind}"))
    return Section("Verifiers (held-out val labels; exact oracle for dead ends)", [
        Table(["verifier", "responses", "ECE", "Brier", "outcome AUC", "dead-end AUC", "first-error F1"], rows),
        *blocks])


def _study_section(title: str, folder: Path, kind: str) -> tuple[Section, dict[str, Any]]:
    """A search study's own Markdown section and figures, from `{kind}.json` in its folder."""
    data = read_json(folder / f"{kind}.json")
    figures = [Image(Path(path), Path(path).stem.replace("_", " ")) for path in data["summary"].get("figures", [])]
    return Section(title, [Markdown(data["markdown"]), *figures]), data


def _rl_section(stages: dict[str, Path]) -> tuple[Section, dict[str, Any]]:
    data = read_json(stages["rl"] / "rl_planted.json")
    summary = data["summary"]
    return Section("Online RL on the planted task", [
        Markdown(summary["markdown"]), Image(stages["rl"] / "rl_planted.png", "held-out accuracy vs samples"),
    ]), summary


def _claims(cells: list[dict[str, Any]], rl: dict[str, Any]) -> Section:
    means = search_means(cells)
    top = max(means["orm_best_of_n"])
    gain_orm = means["pav_beam"][top]["accuracy"] - means["orm_best_of_n"][top]["accuracy"]
    gain_q = means["pav_beam"][top]["accuracy"] - means["q_beam"][top]["accuracy"]
    rows = [["PAV beam vs ORM best-of-N at equal N", "+8-10% accuracy", f"{100 * gain_orm:+.1f} points at N={top}"],
            ["PAV beam vs Q^pi beam at equal N", "PAV beam better (8x compute-efficient)",
             f"{100 * gain_q:+.1f} points at N={top}"]]
    arms = rl["arms"]
    orm = arms.get("ORM-RL")
    for name, eff in rl.get("sample_efficiency", {}).items():
        rows.append([f"{name} vs ORM-RL (planted)", "~10x sample-efficient; 100% in ~350 iterations at gamma=10",
                     f"final {pct(arms[name]['final_accuracy'])} vs {pct(orm['final_accuracy']) if orm else 'n/a'}; "
                     f"sample-efficiency {ratio_text(eff)}"])
    return Section("Paper's claims | measured here", [
        Table(["claim", "paper", "measured here"], rows),
        "Measured on the built-in testbeds with the budgets of this run; see RESULTS.md for the full studies."])


def build_report(run_dir: str | Path) -> Document:
    run_dir = Path(run_dir)
    stages = _stages(run_dir)
    search, compute = _study_section("Test-time search: accuracy vs compute (countdown)", stages["search"],
                                     "search_study")
    provers, _ = _study_section("Test-time search: prover sweep", stages["provers"], "search_provers")
    alpha, _ = _study_section("Test-time search: alpha sweep", stages["alpha"], "search_alpha")
    rl, rl_summary = _rl_section(stages)
    commands = Section("Rerun each part", [Code("\n".join([
        f"pavlab demo --out {run_dir}          # everything (finished stages are reused)",
        f"pavlab report {run_dir}              # this report from saved results",
        "pavlab policy train-testbed --task countdown --out runs/policy",
        "pavlab label --task countdown --policy runs/policy --n_cov 4 --n_mc 8 --out runs/labels",
        "pavlab train-verifier --kind prm --prover bok:4 --init runs/policy --labels runs/labels --out runs/prm",
        "pavlab eval-verifier --verifier runs/prm --labels runs/labels-val --task countdown --out runs/eval-prm",
        "pavlab study search-compute --policy runs/policy --verifier runs/prm --out runs/search-compute",
        "pavlab study search-provers --policy runs/policy --verifier runs/prm --out runs/search-provers",
        "pavlab study search-alpha --policy runs/policy --verifier runs/prm --out runs/search-alpha",
        "pavlab study rl-planted --out runs/rl-planted"]))])
    return Document("pavlab demo report", [_claims(compute["cells"], rl_summary), _policy_section(stages),
                                           _verifier_section(stages), search, provers, alpha, rl, commands])


def write_report(run_dir: str | Path) -> tuple[Path, Path]:
    run_dir = Path(run_dir)
    doc = build_report(run_dir)
    md_path, html_path = run_dir / "report.md", run_dir / "report.html"
    with atomic_open(md_path) as handle:
        handle.write(to_markdown(doc, run_dir))
    with atomic_open(html_path) as handle:
        handle.write(to_html(doc))
    return md_path, html_path
