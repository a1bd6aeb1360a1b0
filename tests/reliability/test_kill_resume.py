"""SIGKILL long jobs at random instants and check the resumed output equals an uninterrupted run.

The default run kills the two cheapest jobs a few times; `-m slow` (or scripts/kill_harness.py)
kills every job kind at least 20 times.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pavlab.reliability.jobs import all_jobs, label_job, sample_job
from pavlab.reliability.kill import HarnessError, Job, kill_test, parse_all

SLOW_KILLS = 20


def check(job: Job, workdir: Path, kills: int, budget_s: float | None = None) -> None:
    report = kill_test(job, workdir, kills=kills, seed=0, budget_s=budget_s)
    print("\n" + report.line())
    assert not report.mismatches, report.mismatches
    assert report.kills >= kills


@pytest.mark.parametrize("job", [sample_job(problems=48), label_job(problems=32)], ids=lambda job: job.name)
def test_smoke_kills(job: Job, tmp_path: Path) -> None:
    check(job, tmp_path, kills=3)


# Appends rows without resuming: a kill makes the rerun duplicate rows (or leave a torn last line).
NAIVE = ("import json, pathlib, sys, time; out = pathlib.Path(sys.argv[1]); out.mkdir(exist_ok=True)\n"
         "with open(out / 'rows.jsonl', 'a') as f:\n"
         "    for i in range(40): f.write(json.dumps({'i': i}) + '\\n'); f.flush(); time.sleep(0.005)")


def test_harness_catches_a_job_that_does_not_resume(tmp_path: Path) -> None:
    """The harness itself must be able to fail: a naive appender is caught as duplicated rows."""
    import sys

    naive = Job("naive", lambda out: [sys.executable, "-c", NAIVE, str(out)], compared=("rows.jsonl",))
    try:
        report = kill_test(naive, tmp_path, kills=5, seed=0)
    except HarnessError as exc:  # a torn line is caught as a corrupt file instead
        assert "corrupt file" in str(exc)
        return
    assert report.kills >= 5 and report.mismatches


def test_torn_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "rows.jsonl").write_text('{"i": 1}\n{"i": ')
    with pytest.raises(HarnessError, match="corrupt file"):
        parse_all(tmp_path, frozenset())


@pytest.mark.slow
def test_every_job_kind_survives_20_kills(tmp_path: Path) -> None:
    for job in all_jobs(tmp_path):
        check(job, tmp_path, kills=SLOW_KILLS, budget_s=480)
