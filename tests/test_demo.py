"""`pavlab demo --quick` end to end: every stage runs, the report has every section with numbers."""

import json
import re
import sys
from pathlib import Path

import pytest

from pavlab.cli import _register_commands, main
from pavlab.demo import DemoConfig, subset_rl_study
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
from pavlab.studies.rl_countdown import RL_COUNTDOWN_FILE, study_arms

SECTIONS = ("Paper's claims | measured here", "Testbed policy (subset_sum)", "Verifiers",
            "Test-time search: accuracy vs compute", "Test-time search: prover sweep", "Test-time search: alpha sweep",
            "Online RL on subset sum (the shipped testbed)", "Online RL on the planted task", "Rerun each part")
SUBSET_ARMS = ["ORM-RL", "PAV-RL alpha 1", "Oracle-PAV-RL alpha 3"]
# The 6-seed study whose figures the report cites (RESULTS.md section 5b): the demo's arms and learned alpha 3.
SIX_SEED_STUDY = Path(__file__).resolve().parents[1] / "docs" / "results" / "rl_countdown_alphas6.json"
DEMO_PRM_STUDY = SIX_SEED_STUDY.with_name("rl_countdown_demo_prm.json")


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


def test_quick_demo_runs_the_subset_sum_rl_study_from_its_own_policy_and_prm(demo_dir):
    stages = json.loads((demo_dir / "demo.json").read_text())["stages"]
    study = json.loads((Path(stages["rl_subset"]) / RL_COUNTDOWN_FILE).read_text())
    settings, quick = study["settings"], DemoConfig.QUICK
    assert settings["policy"] == stages["policy"] and settings["verifier"] == stages["prm"]
    assert settings["prover"] == "bok:4" and settings["seeds"] == [0] and settings["ablation_alpha"] is None
    assert settings["iterations"] == quick["subset_rl_iterations"]
    assert settings["eval_problems"] == quick["subset_rl_eval_problems"]
    assert settings["rft_steps"] == quick["subset_rl_rft_steps"] and study["evaluation"] is None
    assert list(study["summary"]["arms"]) == SUBSET_ARMS
    markdown = (demo_dir / "report.md").read_text()
    section = markdown.split("## Online RL on subset sum (the shipped testbed)")[1].split("\n## ")[0]
    assert study["summary"]["markdown"].splitlines()[-1] in section  # the study's own tables
    assert "rl_countdown.png" in section and "one seed" in section and "RESULTS.md section 5b" in section
    claims = markdown.split("## Paper's claims | measured here")[1].split("\n## ")[0]
    for claim in ("PAV-RL alpha 1 (learned PAV) vs ORM-RL (subset sum", "exact-oracle advantages alpha 3 vs ORM-RL"):
        assert re.search(re.escape(claim) + r".*final \d+\.\d% vs \d+\.\d% \([+-]\d+\.\d points\)", claims)
    assert "vs ORM-RL (planted)" in claims
    assert "pavlab study rl-countdown --verifier runs/prm --prover bok:4 --alphas 1 --oracle_alphas 3" in markdown


def test_subset_rl_stage_has_its_own_key_fields():
    """The subset-sum RL budgets key only their stage: the earlier stages' keys (and caches) do not hold them."""
    config = DemoConfig()
    assert not set(config.budget()) & set(DemoConfig.SUBSET_RL)
    assert set(config.subset_rl_budget()) == set(DemoConfig.SUBSET_RL)
    quick = DemoConfig(quick=True)
    assert quick.subset_rl_iterations < config.subset_rl_iterations


def test_demo_trains_the_arms_whose_six_seed_figures_it_cites():
    """Learned PAV-RL at alpha 1 (it beats ORM-RL over 6 seeds; alpha 3 falls behind) and the oracle at alpha 3."""
    study = subset_rl_study(DemoConfig(), Path("policy"), Path("prm"), Path("out"))
    assert study.alphas == [1.0] and study.oracle_alphas == [3.0]
    assert [arm.name for arm in study_arms(study.alphas, study.prover, None, study.oracle_alphas)] == SUBSET_ARMS
    assert set(SUBSET_ARMS) <= set(json.loads(SIX_SEED_STUDY.read_text())["summary"]["arms"])


def test_quoted_six_seed_figures_match_the_saved_study():
    """The report's 6-seed means are those of docs/results/rl_countdown_alphas6.json (the CIs: RESULTS.md 5b)."""
    arms = json.loads(SIX_SEED_STUDY.read_text())["summary"]["arms"]
    orm = arms["ORM-RL"]["final_accuracy"]
    assert SUBSET_RL_STUDY["orm"] == f"{100 * orm:.1f}%"
    for role, name in (("learned", SUBSET_ARMS[1]), ("oracle", SUBSET_ARMS[2]), ("learned_alpha_3", "PAV-RL alpha 3")):
        assert SUBSET_RL_STUDY[role].startswith(f"{100 * (arms[name]['final_accuracy'] - orm):+.1f} [")
    demo_prm = json.loads(DEMO_PRM_STUDY.read_text())["summary"]["arms"]  # the alpha-1 study with a demo-size PRM
    gap = demo_prm["PAV-RL alpha 1"]["final_accuracy"] - demo_prm["ORM-RL"]["final_accuracy"]
    assert SUBSET_RL_STUDY["demo_prm"].startswith(f"{100 * gap:+.1f} [")
    solver = json.loads(SIX_SEED_STUDY.with_name("rl_countdown_solver.json").read_text())["summary"]["arms"]
    row = solver["Solver-0.3-PAV-RL alpha 1"]  # the graded exact prover: gain and paired CI from the study itself
    assert SUBSET_RL_STUDY["solver"] == ("{:+.1f} [{:+.1f}, {:+.1f}] points".format(
        100 * row["final_gain_vs_orm"], *(100 * x for x in row["final_gain_ci"])))


def test_quoted_learned_planted_figures_match_the_saved_study(tmp_path):
    """The planted section quotes the learned-PAV figure of docs/results/rl_planted_learned.json."""
    write_json(tmp_path / RL_PLANTED_FILE, {"summary": {"markdown": "the study's tables"}})
    section, _ = _rl_section({"rl": tmp_path})
    assert f"gained {PLANTED_LEARNED_STUDY['learned_mu_10']} over ORM-RL ({PLANTED_LEARNED_STUDY['orm']})" in \
        section.blocks[0]
    arms = json.loads(SIX_SEED_STUDY.with_name("rl_planted_learned.json").read_text())["summary"]["arms"]
    row = arms["Learned-PAV-RL mu_10"]
    assert PLANTED_LEARNED_STUDY["learned_mu_10"] == ("{:+.1f} [{:+.1f}, {:+.1f}] points".format(
        100 * row["final_gain_vs_orm"], *(100 * x for x in row["final_gain_ci"])))
    assert PLANTED_LEARNED_STUDY["orm"] == f"{100 * arms['ORM-RL']['final_accuracy']:.1f}%"


def test_subset_rl_section_and_claims_cite_the_alpha_1_study(tmp_path):
    """The section and claims rows name the arms the demo trains and quote the 6-seed figures of those arms."""
    arms = {name: {"prover": prover, "final_accuracy": final} for name, prover, final in
            zip(SUBSET_ARMS, (None, "bok:4", "oracle"), (0.30, 0.33, 0.32), strict=True)}
    write_json(tmp_path / RL_COUNTDOWN_FILE, {"settings": {"iterations": 30},
                                              "summary": {"arms": arms, "markdown": "the study's tables"}})
    section, summary = _subset_rl_section({"rl_subset": tmp_path, "policy": tmp_path})
    text = section.blocks[0]
    assert f"learned PAV-RL alpha 1 {SUBSET_RL_STUDY['learned']}" in text
    assert f"exact-oracle advantages alpha 3 {SUBSET_RL_STUDY['oracle']}" in text
    assert f"paper's alpha 3 the learned PAV fell behind ORM-RL ({SUBSET_RL_STUDY['learned_alpha_3']})" in text
    assert f"measured alpha 1 at {SUBSET_RL_STUDY['demo_prm']} against ORM-RL" in text
    assert f"(solver:0.3), gained {SUBSET_RL_STUDY['solver']} at alpha 1" in text
    learned, oracle = _subset_claims(summary)
    assert learned[0].startswith("PAV-RL alpha 1 (learned PAV)") and learned[2] == (
        f"final 33.0% vs 30.0% (+3.0 points); 6 seeds (RESULTS.md 5b): {SUBSET_RL_STUDY['learned']}")
    assert oracle[0].startswith("exact-oracle advantages alpha 3") and oracle[2].endswith(SUBSET_RL_STUDY["oracle"])
