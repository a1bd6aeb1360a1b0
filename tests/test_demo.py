"""`pavlab demo --quick` end to end: every stage runs, the report has every section with numbers."""

import json
import re
import sys
from pathlib import Path

import pytest

from pavlab.cli import _register_commands, main
from pavlab.demo import DemoConfig, subset_rl_study
from pavlab.errors import PavlabError
from pavlab.io import write_json
from pavlab.report.demo_report import (
    PLANTED_LEARNED_STUDY,
    SUBSET_RL_STUDY,
    _rl_section,
    _subset_claims,
    _subset_rl_section,
    build_report,
)
from pavlab.studies.rl import RL_PLANTED_FILE
from pavlab.studies.rl_countdown import RL_COUNTDOWN_FILE, SHARED_SETTINGS, study_arms
from pavlab.tasks.registry import TaskConfig

SECTIONS = ("Paper's claims | measured here", "Testbed policy (subset_sum)", "Verifiers",
            "Test-time search: accuracy vs compute", "Test-time search: prover sweep", "Test-time search: alpha sweep",
            "Online RL on subset sum (the practised-habit start)", "Online RL on the planted task", "Rerun each part")
SUBSET_ARMS = ["ORM-RL", "Oracle-PAV-RL alpha 3"]
RESULTS_DIR = Path(__file__).resolve().parents[1] / "docs" / "results"
# The multi-seed study whose figures the report cites (RESULTS.md section 5b): the demo's arms and the learned PAV.
COVERAGE_STUDY = RESULTS_DIR / "rl_countdown_coverage.json"


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    _register_commands()
    with pytest.raises(SystemExit) as exit_info:
        sys.argv = ["pavlab", "demo", "--quick", "--out", str(out)]
        main()
    assert exit_info.value.code in (0, None)
    return out


def test_quick_demo_report_has_every_section_with_numbers(demo_dir):
    markdown = (demo_dir / "report.md").read_text()
    for title in SECTIONS:
        assert f"## {title}" in markdown
    doc = build_report(demo_dir)
    titles = [section.title for section in doc.sections]  # in order: subset sum's RL before the planted task's
    assert len(titles) == len(SECTIONS) and all(map(str.startswith, titles, SECTIONS)), titles
    for section in doc.sections[:-1]:
        rendered = str(section.blocks)
        assert re.search(r"\d+\.\d%|\d\.\d{3}", rendered), f"no numbers in section {section.title!r}"
    assert "placeholder" not in markdown.lower() and "todo" not in markdown.lower()
    html = (demo_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 3


def test_second_run_reuses_every_stage(demo_dir, capsys):
    sys.argv = ["pavlab", "demo", "--quick", "--out", str(demo_dir)]
    with pytest.raises(SystemExit):
        main()
    out = capsys.readouterr().out
    assert "cached" in out and "done in" not in out


def test_quick_demo_runs_the_subset_sum_rl_study_from_the_shipped_habit_start(demo_dir):
    stages = json.loads((demo_dir / "demo.json").read_text())["stages"]
    study = json.loads((Path(stages["rl_subset"]) / RL_COUNTDOWN_FILE).read_text())
    settings, quick = study["settings"], DemoConfig.QUICK
    start = json.loads((Path(stages["rl_start"]) / "testbed.json").read_text())
    assert settings["policy"] == stages["rl_start"] and settings["verifier"] == stages["prm"]
    assert start["config"]["coverage_traces"] > 0  # the shipped practised-habit start, not the demo's policy
    assert {k: settings["task"][k] for k in start["task_options"]} == start["task_options"]
    assert settings["seeds"] == [0] and settings["ablation_alpha"] is None and settings["rft_steps"] == 0
    assert settings["iterations"] == quick["subset_rl_iterations"]
    assert settings["eval_problems"] == quick["subset_rl_eval_problems"] and study["evaluation"] is None
    assert list(study["summary"]["arms"]) == SUBSET_ARMS
    markdown = (demo_dir / "report.md").read_text()
    section = markdown.split("## Online RL on subset sum (the practised-habit start)")[1].split("\n## ")[0]
    assert study["summary"]["markdown"].splitlines()[-1] in section  # the study's own tables
    assert "rl_countdown.png" in section and "one seed" in section and "RESULTS.md 5b" in section
    claims = markdown.split("## Paper's claims | measured here")[1].split("\n## ")[0]
    claim = "exact-oracle advantages alpha 3 vs ORM-RL (subset sum)"
    assert re.search(re.escape(claim) + r".*1 seed: final \d+\.\d% vs \d+\.\d% \([+-]\d+\.\d points\)", claims)
    assert claims.count("not run by the demo") == 2 and "vs ORM-RL (planted)" in claims
    assert "pavlab policy shipped-testbed --task subset_sum_habit" in markdown


def test_subset_rl_stage_has_its_own_key_fields():
    """The subset-sum RL budgets key only their stage: the earlier stages' keys (and caches) do not hold them."""
    config = DemoConfig()
    assert not set(config.budget()) & set(DemoConfig.SUBSET_RL)
    assert set(config.subset_rl_budget()) == set(DemoConfig.SUBSET_RL)
    quick = DemoConfig(quick=True)
    assert quick.subset_rl_iterations < config.subset_rl_iterations


def test_demo_trains_the_arms_whose_multi_seed_figures_it_cites():
    """ORM-RL and the oracle at alpha 3: arms of the saved study, at its recipe."""
    task = TaskConfig(name="subset_sum", min_take=6, max_take=7)
    study = subset_rl_study(DemoConfig(), Path("policy"), Path("prm"), task, Path("out"))
    assert study.alphas == [] and study.oracle_alphas == [3.0] and study.solvers == []
    assert [arm.name for arm in study_arms(study.alphas, study.prover, None, study.oracle_alphas, study.solvers,
                                           study.solver_alphas)] == SUBSET_ARMS
    saved = json.loads(COVERAGE_STUDY.read_text())
    assert set(SUBSET_ARMS) <= set(saved["summary"]["arms"])
    assert study.task == task and study.settings["rft_steps"] == saved["settings"]["rft_steps"] == 0
    for key in ("lr", "kl_coef", "baseline"):
        assert saved["settings"][key] == SHARED_SETTINGS[key]  # the demo's study runs the saved study's recipe


def test_quoted_multi_seed_figures_match_the_saved_study():
    """The report's figures are those of docs/results/rl_countdown_coverage.json (gains: paired bootstrap CIs)."""
    saved = json.loads(COVERAGE_STUDY.read_text())
    arms = saved["summary"]["arms"]
    assert SUBSET_RL_STUDY["orm"] == f"{100 * arms['ORM-RL']['final_accuracy']:.1f}%"
    assert SUBSET_RL_STUDY["seeds"] == str(len(saved["settings"]["seeds"]))
    for role, name in (("oracle", "Oracle-PAV-RL alpha 3"), ("solver", "Solver-0.3-PAV-RL alpha 1"),
                       ("learned", "PAV-RL alpha 1")):
        row = arms[name]
        assert SUBSET_RL_STUDY[role] == ("{:+.1f} [{:+.1f}, {:+.1f}] points".format(
            100 * row["final_gain_vs_orm"], *(100 * x for x in row["final_gain_ci"])))


def test_quoted_learned_planted_figures_match_the_saved_study(tmp_path):
    """The planted section quotes the learned-PAV figure of docs/results/rl_planted_learned.json."""
    write_json(tmp_path / RL_PLANTED_FILE, {"summary": {"markdown": "the study's tables"}})
    section, _ = _rl_section({"rl": tmp_path})
    assert f"gained {PLANTED_LEARNED_STUDY['learned_mu_10']} over ORM-RL ({PLANTED_LEARNED_STUDY['orm']})" in \
        section.blocks[0]
    arms = json.loads((RESULTS_DIR / "rl_planted_learned.json").read_text())["summary"]["arms"]
    row = arms["Learned-PAV-RL mu_10"]
    assert PLANTED_LEARNED_STUDY["learned_mu_10"] == ("{:+.1f} [{:+.1f}, {:+.1f}] points".format(
        100 * row["final_gain_vs_orm"], *(100 * x for x in row["final_gain_ci"])))
    assert PLANTED_LEARNED_STUDY["orm"] == f"{100 * arms['ORM-RL']['final_accuracy']:.1f}%"


def test_subset_rl_section_and_claims_quote_the_multi_seed_study(tmp_path):
    """The section and claims rows name the arms the demo trains and quote the multi-seed figures."""
    arms = {name: {"prover": prover, "final_accuracy": final} for name, prover, final in
            zip(SUBSET_ARMS, (None, "oracle"), (0.04, 0.10), strict=True)}
    write_json(tmp_path / RL_COUNTDOWN_FILE, {"settings": {"iterations": 30, "task": {"min_take": 6, "max_take": 7}},
                                              "summary": {"arms": arms, "markdown": "the study's tables"}})
    write_json(tmp_path / "testbed.json", {"parameters": 885120})
    section, summary = _subset_rl_section({"rl_subset": tmp_path, "rl_start": tmp_path, "policy": tmp_path})
    text = section.blocks[0]
    assert "885120 parameters" in text and "6-7 numbers" in text and "for 30 iterations" in text
    for role in ("oracle", "solver", "learned"):
        assert SUBSET_RL_STUDY[role] in text
    oracle, solver, learned = _subset_claims(summary)
    assert oracle[2] == (f"1 seed: final 10.0% vs 4.0% (+6.0 points); {SUBSET_RL_STUDY['seeds']} seeds "
                         f"(RESULTS.md 5b): {SUBSET_RL_STUDY['oracle']}")
    for row, role in ((solver, "solver"), (learned, "learned")):  # the arms the demo does not run: the study's gain
        assert row[2] == f"not run by the demo; {SUBSET_RL_STUDY['seeds']} seeds (RESULTS.md 5b): " \
            f"{SUBSET_RL_STUDY[role]}"
    assert solver[0].startswith("exact solver:0.3") and learned[1] == "> +7 points"


def test_an_older_demo_folder_without_the_habit_start_asks_for_a_rerun(tmp_path):
    with pytest.raises(PavlabError, match="predates the practised-habit start"):
        _subset_rl_section({"rl_subset": tmp_path, "policy": tmp_path / "stages" / "policy"})
