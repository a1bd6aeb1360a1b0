"""The shared RL-study pieces: the sample-efficiency rule (with its reasons) and the per-arm summary over seeds."""

from __future__ import annotations

from pathlib import Path

import pytest

from pavlab.studies.rl_curves import RewardArm, ratio_text, sample_efficiency, seed_bootstrap, summarize_arms


def test_sample_efficiency_ratio():
    samples = [0, 100, 200, 300, 400]
    orm = (samples, [0.0, 0.0, 0.1, 0.2, 0.2])
    pav = (samples, [0.0, 0.3, 0.5, 0.6, 0.6])
    result = sample_efficiency(orm, pav)
    assert result["orm_best_accuracy"] == pytest.approx(0.2)
    assert (result["orm_samples"], result["pav_samples"], result["ratio"], result["reason"]) == (300, 100, 3.0, None)
    flat = sample_efficiency((samples, [0.1] * 5), pav)
    assert flat["ratio"] is None and flat["reason"] == "ORM-RL never rose above its start"
    never = sample_efficiency(orm, (samples, [0.0] * 5))
    assert never["ratio"] is None and never["reason"] == "PAV-RL never reached ORM-RL's best"
    assert ratio_text(result) == "3.0x" and ratio_text(never) == "n/a (PAV-RL never reached ORM-RL's best)"
    # a flat ORM-RL bounds the ratio from below: its whole budget (400) over PAV-RL's samples to pass it (100)
    assert flat["lower_bound"] == pytest.approx(4.0) and never["lower_bound"] is None
    assert ratio_text(flat).startswith("> 4x (ORM-RL never rose above its start in 400 samples")
    stuck = sample_efficiency((samples, [0.1] * 5), (samples, [0.1] * 5))
    assert stuck["lower_bound"] is None and ratio_text(stuck) == "n/a (ORM-RL never rose above its start)"
    # rising above a flat ORM-RL and falling back bounds nothing; the bound counts from where PAV-RL stays above
    fell = sample_efficiency((samples, [0.1] * 5), (samples, [0.1, 0.3, 0.2, 0.1, 0.05]))
    assert fell["lower_bound"] is None and fell["pav_passed_orm_best"] is None
    assert ratio_text(fell) == "n/a (ORM-RL never rose above its start; PAV-RL rose above it and fell back)"
    dipped = sample_efficiency((samples, [0.1] * 5), (samples, [0.1, 0.3, 0.1, 0.2, 0.3]))
    assert dipped["pav_passed_orm_best"] == 300 and dipped["lower_bound"] == pytest.approx(400 / 300)
    # reaching a rising ORM-RL's best early and ending below it keeps the paper's ratio, marked as fallen back
    peaked = sample_efficiency(orm, (samples, [0.0, 0.25, 0.15, 0.1, 0.1]))
    assert peaked["ratio"] == pytest.approx(3.0) and peaked["fell_back"] and not result["fell_back"]
    assert ratio_text(peaked) == "3.0x, then fell back (final 10.0% < ORM-RL's best 20.0%)"


def point(samples: float, accuracy: float) -> dict[str, float]:
    return {"iteration": samples / 10, "samples": samples, "test_accuracy": accuracy}


def test_summarize_over_seeds_cuts_mean_curves_to_the_shortest_run():
    arms = [RewardArm("ORM-RL"), RewardArm("PAV-RL alpha 1", 1.0, prover="bok:4"),
            RewardArm("Q+aQ^mu alpha 1", 1.0, "q_plus_q_mu")]
    curves = {
        "ORM-RL": {0: [point(0, 0.1), point(10, 0.2)], 1: [point(0, 0.1), point(10, 0.1)]},
        "PAV-RL alpha 1": {0: [point(0, 0.1), point(10, 0.4), point(20, 0.5)], 1: [point(0, 0.1), point(10, 0.2)]},
        "Q+aQ^mu alpha 1": {0: [point(0, 0.1), point(10, 0.0)], 1: [point(0, 0.1), point(10, 0.0)]},
    }
    summary = summarize_arms(arms, curves)
    pav = summary["arms"]["PAV-RL alpha 1"]
    assert pav["final_per_seed"] == {0: 0.5, 1: 0.2}
    assert (pav["final_min"], pav["final_max"]) == (0.2, 0.5)
    assert pav["final_accuracy"] == pytest.approx(0.35)
    assert summary["mean_curves"]["PAV-RL alpha 1"] == ([0, 10], [pytest.approx(0.1), pytest.approx(0.3)])
    assert pav["best_mean_accuracy"] == pytest.approx(0.3) and pav["samples"] == 10
    assert summary["arms"]["ORM-RL"]["best_mean_accuracy"] == pytest.approx(0.15)
    # the ablation is not PAV-RL proper, so no ratio for it; PAV-RL reaches ORM's best 0.15 at 10 samples, as ORM does
    assert set(summary["sample_efficiency"]) == {"PAV-RL alpha 1"}
    assert summary["sample_efficiency"]["PAV-RL alpha 1"]["ratio"] == pytest.approx(1.0)
    assert pav["final_gain_vs_orm"] == pytest.approx(0.35 - 0.15)
    assert summary["arms"]["ORM-RL"]["final_gain_ci"] == [0, 0]


def test_the_gain_ci_is_paired_over_seeds():
    # seed 1 is 0.2 better than seed 0 in both arms: PAV-RL gains exactly 0.1 on every seed, so every paired
    # resample gives 0.1, though each arm's own final CI is wide
    arms = [RewardArm("ORM-RL"), RewardArm("PAV-RL alpha 1", 1.0, prover="bok:4")]
    curves = {"ORM-RL": {0: [point(0, 0.1), point(10, 0.1)], 1: [point(0, 0.1), point(10, 0.3)]},
              "PAV-RL alpha 1": {0: [point(0, 0.1), point(10, 0.2)], 1: [point(0, 0.1), point(10, 0.4)]}}
    pav = summarize_arms(arms, curves, resamples=200)["arms"]["PAV-RL alpha 1"]
    assert pav["final_gain_ci"] == pytest.approx([0.1, 0.1])
    assert pav["final_ci"][1] - pav["final_ci"][0] == pytest.approx(0.2)


def test_paired_seed_bootstrap_brackets_finals_and_counts_undefined_ratios():
    arms = [RewardArm("ORM-RL"), RewardArm("PAV-RL alpha 1", 1.0, prover="bok:4")]
    curves = {
        "ORM-RL": {s: [point(0, 0.1), point(10, 0.1), point(20, 0.1 + 0.1 * (s % 2)), point(30, 0.2)]
                   for s in range(4)},
        "PAV-RL alpha 1": {s: [point(0, 0.1), point(10, 0.2 + 0.05 * s), point(20, 0.5), point(30, 0.6)]
                           for s in range(4)},
    }
    summary = summarize_arms(arms, curves, resamples=300)
    orm, pav = summary["arms"]["ORM-RL"], summary["arms"]["PAV-RL alpha 1"]
    assert orm["final_ci"] == pytest.approx([0.2, 0.2]) and pav["final_ci"] == pytest.approx([0.6, 0.6])
    efficiency = pav["sample_efficiency_vs_orm"]
    assert efficiency["ratio"] == pytest.approx(3.0)  # ORM-RL's best (0.2) at 30 samples, PAV-RL's at 10
    low, high = efficiency["ci"]
    assert 1.5 <= low <= efficiency["ratio"] <= high <= 3.0 and efficiency["undefined_share"] == 0.0
    assert "sample_efficiency_vs_orm" not in orm

    flat = {**curves, "ORM-RL": {s: [point(0, 0.1)] * 4 for s in range(4)}}
    never = summarize_arms(arms, flat, resamples=100)["arms"]["PAV-RL alpha 1"]["sample_efficiency_vs_orm"]
    assert never["ratio"] is None and never["ci"] is None and never["undefined_share"] == 1.0


def test_seed_bootstrap_statistics_use_the_same_draws():
    arms = [RewardArm("ORM-RL"), RewardArm("PAV-RL alpha 1", 1.0, prover="bok:4")]
    curves = {"ORM-RL": {s: [point(0, 0.1), point(10, 0.1 * s)] for s in range(5)},
              "PAV-RL alpha 1": {s: [point(0, 0.1), point(10, 0.2 * s)] for s in range(5)}}

    def finals(means):  # the draw's final seed means again, and one statistic that is never defined
        return [means["PAV-RL alpha 1"][1][-1], None]

    out = seed_bootstrap(arms, curves, "ORM-RL", resamples=300, statistics=finals)
    same, never = out["statistics"]["intervals"]
    assert same["ci"] == pytest.approx(out["PAV-RL alpha 1"]["final_ci"]) and same["undefined_share"] == 0.0
    assert never == {"ci": None, "undefined_share": 1.0}
    assert "statistics" not in seed_bootstrap(arms, curves, "ORM-RL", resamples=10)
    with pytest.raises(ValueError, match="clash"):
        seed_bootstrap([RewardArm("statistics"), arms[1]], {"statistics": curves["ORM-RL"], **curves}, "statistics",
                       resamples=10, statistics=finals)


def _spawned_workers(parent: int) -> list[int]:
    """Pids of the pool workers `parent` spawned (not its resource tracker), read from /proc."""
    workers = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == parent and b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
            workers.append(int(stat.parent.name))
    return workers


def _running(pid: int) -> bool:
    try:
        return (Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]) != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_workers_exit_when_the_study_process_is_killed():
    import subprocess
    import sys
    import time

    script = ("import time\nfrom functools import partial\nfrom pavlab.studies.rl_curves import run_in_processes\n"
              "run_in_processes([partial(time.sleep, 120)] * 2, workers=2)\n")
    study = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 120
        while len(workers := _spawned_workers(study.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert len(workers) == 2
        time.sleep(2.0)  # the workers are in their jobs
    finally:
        study.kill()  # SIGKILL: no handler in the parent runs
        study.wait()
    deadline = time.monotonic() + 20
    while any(map(_running, workers)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not any(map(_running, workers))
