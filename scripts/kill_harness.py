"""Kill every long job kind at random instants and compare with an uninterrupted run.

usage: .venv/bin/python scripts/kill_harness.py [--kills 20] [--seed 0] [--jobs sample,label,...] [--keep DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from pavlab.reliability.jobs import all_jobs
from pavlab.reliability.kill import kill_test


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20, help="kills per job kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", default="", help="comma-separated job kinds (default: all)")
    parser.add_argument("--budget", type=float, default=900.0, help="seconds per job kind at most")
    parser.add_argument("--keep", type=Path, help="work folder to keep (default: a temp folder)")
    args = parser.parse_args()
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="pavlab-kill-"))
    workdir.mkdir(parents=True, exist_ok=True)
    wanted = set(filter(None, args.jobs.split(",")))
    failed = False
    for job in all_jobs(workdir):
        if wanted and job.name not in wanted:
            continue
        report = kill_test(job, workdir, kills=args.kills, seed=args.seed, budget_s=args.budget)
        print(report.line(), flush=True)
        for mismatch in report.mismatches:
            print("  MISMATCH", mismatch)
        failed |= bool(report.mismatches) or report.kills < args.kills
    print(f"work folder: {workdir}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
