"""The demo report: every number is read from the saved results of a `pavlab demo` run.

`build_report(run_dir)` turns `demo.json` and the stage folders it names into a `Document`;
`write_report(run_dir)` renders it to `report.md` and `report.html`. Nothing is computed here
that a stage did not save, so `pavlab report RUN_DIR` regenerates the same report any time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pavlab.errors import PavlabError
from pavlab.io import atomic_open, read_json
from pavlab.policies.testbed import TESTBED_FILE
from pavlab.report.document import Code, Document, Image, Markdown, Section, Table, to_html, to_markdown
from pavlab.studies.rl import RL_PLANTED_FILE
from pavlab.studies.rl_countdown import RL_COUNTDOWN_FILE
from pavlab.studies.rl_curves import ratio_text
from pavlab.studies.search_cells import pct
from pavlab.studies.testbed import TESTBED_STUDY_FILE
from pavlab.verifiers.evaluate import EVAL_METRICS_FILE


def num(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _stages(run_dir: Path) -> dict[str, Path]:
    manifest = run_dir / "demo.json"
    if not manifest.is_file():
        raise PavlabError("not a demo run folder (no demo.json); run `pavlab demo --out DIR` first", path=run_dir)
    return {name: Path(path) for name, path in read_json(manifest)["stages"].items()}


def _policy_section(stages: dict[str, Path]) -> Section:
    summary = read_json(stages["samples"] / TESTBED_STUDY_FILE)
    testbed = read_json(stages["policy"] / TESTBED_FILE)
    endings = summary.get("endings", {})
    rows = [[k, pct(v)] for k, v in summary["pass_at_k"].items()]
    rows += [["mean steps per response", num(summary.get("mean_steps"), 2)],
             *[[f"responses ending: {k.removeprefix('share_').replace('_', ' ')}", pct(v)]
               for k, v in endings.items() if k.startswith("share_")],
             ["mean legal choices per state", num(endings.get("mean_legal_choices"), 2)]]
    return Section(f"Testbed policy ({summary['task']})", [
        f"A {testbed.get('parameters', '?')}-parameter Llama trained from scratch by SFT on noisy-solver traces "
        f"in {testbed.get('train_seconds', 0):.0f} s (shipped with pavlab; testbed.json records the command's "
        f"config); sampled at temperature 1 on {summary['problems']} held-out problems x "
        f"{summary['samples_per_problem']} samples.",
        Table(["metric", "value"], rows),
    ])


def _verifier_section(stages: dict[str, Path]) -> Section:
    rows, blocks = [], []
    names = {"eval_orm": "ORM", "eval_prm": "Q^pi PRM", "eval_pav": "PAV (PRM read as Bo4 prover)"}
    for stage, name in names.items():
        metrics = read_json(stages[stage] / EVAL_METRICS_FILE)
        oracle = metrics.get("oracle", {})
        first = oracle.get("first_error", {}).get("value", {})
        ci = metrics.get("outcome_auc_ci") or [None, None]
        auc = f"{num(metrics['outcome_auc'])} [{num(ci[0])}, {num(ci[1])}]"
        rows.append([name, str(metrics["responses"]), num(metrics["calibration"]["ece"]),
                     num(metrics["calibration"]["brier"]), auc,
                     num(oracle.get("dead_end_auc")), num(first.get("f1"))])
        png = stages[stage] / "reliability.png"
        if png.exists() and stage != "eval_pav":
            blocks.append(Image(png, f"reliability diagram, {name}"))
    return Section("Verifiers (held-out val labels; exact oracle for dead ends)", [
        Table(["verifier", "responses", "ECE", "Brier", "outcome AUC [95% CI]", "dead-end AUC", "first-error F1"],
              rows),
        "The PAV's AUCs equal the PRM's (Bo4 is a monotone transform); its ECE is against unbiased Bo4 labels.",
        *blocks])


def _study_section(title: str, folder: Path, kind: str) -> tuple[Section, dict[str, Any]]:
    """A search study's own Markdown section and figures, from `{kind}.json` in its folder."""
    data = read_json(folder / f"{kind}.json")
    figures = [Image(Path(path), Path(path).stem.replace("_", " ")) for path in data["summary"].get("figures", [])]
    return Section(title, [Markdown(data["markdown"]), *figures]), data


# The 6-seed subset-sum RL study the demo's one-seed run stands in for (RESULTS.md section 5b, "A habit
# with practised lines"; docs/results/rl_countdown_coverage.json): ORM-RL's final accuracy and each PAV arm's
# gain over it with its paired-bootstrap CI over seeds. The learned PAV (Monte Carlo values of solver:0.3,
# two label rounds) is not run by the demo.
SUBSET_RL_STUDY = {"orm": "4.8%", "oracle": "+13.0 [+11.2, +15.7] points", "solver": "+8.3 [+6.1, +11.0] points",
                   "learned": "+8.6 [+6.5, +10.5] points", "seeds": "6"}


def _subset_arms(summary: dict[str, Any]) -> dict[str, str]:
    """The subset-sum study's arm names by role: 'orm', 'oracle', 'solver' (solver:P) or 'learned' (a PAV)."""
    roles = {}
    for name, row in summary["arms"].items():
        prover = row["prover"]
        role = "orm" if prover is None else "oracle" if prover == "oracle" else \
            "solver" if prover.startswith("solver:") else "learned"
        roles.setdefault(role, name)
    return roles


def _subset_rl_section(stages: dict[str, Path]) -> tuple[Section, dict[str, Any]]:
    """The subset-sum RL study from the shipped practised-habit start: its own section and curves."""
    if "rl_start" not in stages:
        raise PavlabError("this demo run's subset-sum RL stage predates the practised-habit start; rerun `pavlab "
                          "demo` with the same --out: the finished stages are reused", path=stages["policy"].parents[1])
    data = read_json(stages["rl_subset"] / RL_COUNTDOWN_FILE)
    summary, settings = data["summary"], data["settings"]
    start = read_json(stages["rl_start"] / TESTBED_FILE)
    study = SUBSET_RL_STUDY
    return Section("Online RL on subset sum (the practised-habit start)", [
        f"RL from the second subset-sum policy pavlab ships, `subset_sum_habit` ({start.get('parameters', '?')} "
        f"parameters; problems that take {settings['task']['min_take']}-{settings['task']['max_take']} numbers): it "
        f"mostly takes the smallest number first, which ends most responses in a dead end, and was also trained on "
        f"solver traces whose choices are not scored, so it writes correct lines after better choices "
        f"(RESULTS.md 5b, \"A habit with practised lines\"). ORM-RL against PAV-RL whose prover values come from "
        f"the exact 0/1 oracle (alpha 3), with the study's recipe (no RFT, value baseline, KL 0.001). The demo runs "
        f"one seed for {settings['iterations']} iterations and trains only (the Pass@N and beyond-best-of-K rows stay "
        f"pending). The {study['seeds']}-seed study (200 iterations, 512 test problems x 8) measured ORM-RL at "
        f"{study['orm']} and, against it, the oracle {study['oracle']}, the graded noisy solver just stronger than "
        f"the policy (solver:0.3, exact values, alpha 1) {study['solver']}, and a learned PAV of solver:0.3 (a PRM "
        f"on Monte Carlo values of solver:0.3 rollouts, two label rounds, ~1.5 CPU-hours) {study['learned']}; the "
        f"demo runs neither (its PRM is of the other policy, and a third run would take it past 20 minutes).",
        Markdown(summary["markdown"]),
        Image(stages["rl_subset"] / "rl_countdown.png", "held-out accuracy vs samples (subset sum)"),
    ]), summary


# The planted study with learned PAVs (RESULTS.md section 5, 3 seeds; docs/results/rl_planted_learned.json): the
# gain over ORM-RL of PAV-RL reading a mu_10 value model learned from Monte Carlo rollouts, with its paired CI.
PLANTED_LEARNED_STUDY = {"learned_mu_10": "+80.8 [+68.2, +89.0] points", "orm": "0.0%"}


def _rl_section(stages: dict[str, Path]) -> tuple[Section, dict[str, Any]]:
    data = read_json(stages["rl"] / RL_PLANTED_FILE)
    summary = data["summary"]
    study = PLANTED_LEARNED_STUDY
    return Section("Online RL on the planted task", [
        "The prover advantages here are exact (mu_gamma's values by formula). With a PAV *learned* the way a user "
        f"builds one (mu_10's Monte Carlo rollouts, a value model of them), the same start gained "
        f"{study['learned_mu_10']} over ORM-RL ({study['orm']}) in 3 seeds (RESULTS.md section 5, `pavlab study "
        "rl-planted --learned_gammas 10,30`).",
        Markdown(summary["markdown"]), Image(stages["rl"] / "rl_planted.png", "held-out accuracy vs samples"),
    ]), summary


def _interval(ci: list[float] | None, points: bool = True) -> str:
    """' [lo, hi] pts' for an accuracy difference, ' [lo, hi]' for a ratio; '' without a CI."""
    if not ci:
        return ""
    return f" [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}] pts" if points else f" [{ci[0]:.2f}, {ci[1]:.2f}]"


def _subset_claims(subset: dict[str, Any]) -> list[list[str]]:
    """Claims rows of the subset-sum RL study: each arm the demo ran against its ORM-RL (then the multi-seed
    study's gain), and the multi-seed study's gain for the arms it did not run."""
    arms, roles = subset["arms"], _subset_arms(subset)
    orm = arms[roles["orm"]]
    seeds = f"{SUBSET_RL_STUDY['seeds']} seeds (RESULTS.md 5b)"
    rows = []
    exact = "(not in the paper: exact prover values)"
    for role, claim, paper in (("oracle", "exact-oracle advantages alpha 3 vs ORM-RL (subset sum)", exact),
                               ("solver", "exact solver:0.3 advantages alpha 1 vs ORM-RL (subset sum)", exact),
                               ("learned", "PAV-RL alpha 1 (learned PAV of solver:0.3) vs ORM-RL (subset sum)",
                                "> +7 points")):
        if role in roles:
            final = arms[roles[role]]["final_accuracy"]
            measured = (f"1 seed: final {pct(final)} vs {pct(orm['final_accuracy'])} "
                        f"({100 * (final - orm['final_accuracy']):+.1f} points)")
        else:
            measured = "not run by the demo"
        rows.append([claim, paper, f"{measured}; {seeds}: {SUBSET_RL_STUDY[role]}"])
    return rows


def _claims(search: dict[str, Any], rl: dict[str, Any], subset: dict[str, Any]) -> Section:
    summary = search["summary"]
    pav = summary["vs_orm"].get(summary.get("headline_arms", {"pav": "pav_beam"})["pav"], {})
    gain = pav.get("gain_at_equal_tokens")
    ratio = pav.get("compute_ratio")
    top = summary["arms"]["orm_best_of_n"][-1]
    rows = [["PAV beam vs ORM best-of-N at equal tokens", "+8-10% accuracy",
             ("n/a" if gain is None else f"{100 * gain:+.1f}") + _interval(pav.get("gain_ci"))
             + f" at {pav.get('at_tokens') or 0:.0f} tokens/problem"],
            [f"PAV beam: compute to match ORM best-of-{top['n']} ({pct(top['accuracy'])})", "1.5-5x (text: 10x)",
             ("never matched" if ratio is None else f"{ratio:.2f}x")
             + _interval(pav.get("compute_ratio_ci"), points=False)],
            ["PAV beam vs Q^pi beam: compute to match", "8x",
             "never matched" if summary["compute_ratio_vs_q_beam"] is None
             else f"{summary['compute_ratio_vs_q_beam']:.2f}x"]]
    rows += _subset_claims(subset)
    arms = rl["arms"]
    orm = arms.get("ORM-RL")
    for name, eff in rl.get("sample_efficiency", {}).items():
        rows.append([f"{name} vs ORM-RL (planted)", "~10x sample-efficient; 100% in ~350 iterations at gamma=10",
                     f"final {pct(arms[name]['final_accuracy'])} vs {pct(orm['final_accuracy']) if orm else 'n/a'}; "
                     f"sample-efficiency {ratio_text(eff)}"])
    return Section("Paper's claims | measured here", [
        Table(["claim", "paper", "measured here"], rows),
        f"Search compared at equal tokens generated (paired bootstrap over {summary['problems']} problems x "
        f"{summary['seeds']} seeds, 95% CIs). Measured with this run's budgets; RESULTS.md has the full studies."])


def build_report(run_dir: str | Path) -> Document:
    run_dir = Path(run_dir)
    stages = _stages(run_dir)
    search, compute = _study_section("Test-time search: accuracy vs compute (subset sum)", stages["search"],
                                     "search_compute")
    provers, _ = _study_section("Test-time search: prover sweep", stages["provers"], "search_provers")
    alpha, _ = _study_section("Test-time search: alpha sweep", stages["alpha"], "search_alpha")
    subset_rl, subset_summary = _subset_rl_section(stages)
    rl, rl_summary = _rl_section(stages)
    commands = Section("Rerun each part", [Code("\n".join([
        f"pavlab demo --out {run_dir}          # everything (finished stages are reused)",
        f"pavlab report {run_dir}              # this report from saved results",
        "pavlab policy shipped-testbed --task subset_sum --out runs/policy",
        "pavlab study testbed --policy runs/policy --out runs/testbed",
        "pavlab label --task subset_sum --policy runs/policy --n_cov 4 --n_mc 16 --seeding first_pit --out runs/labels",
        "pavlab train-verifier --kind prm --prover bok:4 --init runs/policy --labels runs/labels --out runs/prm",
        "pavlab eval-verifier --verifier runs/prm --labels runs/labels-val --task subset_sum --out runs/eval-prm",
        "pavlab study search-compute --task subset_sum --policy runs/policy --verifier runs/prm --orm runs/orm "
        "--out runs/search-compute",
        "pavlab study search-provers --task subset_sum --policy runs/policy --verifier runs/prm --out runs/provers",
        "pavlab study search-alpha --task subset_sum --policy runs/policy --verifier runs/prm --out runs/alpha",
        "pavlab policy shipped-testbed --task subset_sum_habit --out runs/habit",
        "pavlab study rl-countdown --policy runs/habit --verifier runs/prm "
        "--alphas '' --oracle_alphas 3 --solvers 0.3 --solver_alphas 1 --no-ablation --settings.rft_steps 0 "
        "--out runs/rl-subset-sum   # the study's 6 seeds x 200 iterations and evaluations (the demo's settings: "
        "its section's command)",
        "pavlab study rl-planted --out runs/rl-planted"]))])
    return Document("pavlab demo report", [_claims(compute, rl_summary, subset_summary), _policy_section(stages),
                                           _verifier_section(stages), search, provers, alpha, subset_rl, rl,
                                           commands])


def write_report(run_dir: str | Path) -> tuple[Path, Path]:
    run_dir = Path(run_dir)
    doc = build_report(run_dir)
    md_path, html_path = run_dir / "report.md", run_dir / "report.html"
    with atomic_open(md_path) as handle:
        handle.write(to_markdown(doc, run_dir))
    with atomic_open(html_path) as handle:
        handle.write(to_html(doc))
    return md_path, html_path
