"""SIGKILL long jobs at random instants and check the resumed output equals an uninterrupted run.

The default run kills the two cheapest jobs a few times; `-m slow` (or scripts/kill_harness.py)
kills every job kind at least 20 times.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pavlab.reliability.jobs import all_jobs, label_job, sample_job
from pavlab.reliability.kill import Job, kill_test

SLOW_KILLS = 20


def check(job: Job, workdir: Path, kills: int, budget_s: float | None = None) -> None:
    report = kill_test(job, workdir, kills=kills, seed=0, budget_s=budget_s)
    print("\n" + report.line())
    assert not report.mismatches, report.mismatches
    assert report.kills >= kills


@pytest.mark.parametrize("job", [sample_job(problems=48), label_job(problems=32)], ids=lambda job: job.name)
def test_smoke_kills(job: Job, tmp_path: Path) -> None:
    check(job, tmp_path, kills=3)


@pytest.mark.slow
def test_every_job_kind_survives_20_kills(tmp_path: Path) -> None:
    for job in all_jobs(tmp_path):
        check(job, tmp_path, kills=SLOW_KILLS, budget_s=900)
