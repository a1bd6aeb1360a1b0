"""How a subset-sum policy's responses look in its label runs: lines per response, share correct, and share
that write a line claiming the need is spent (`X -> 0`) before the last line.

Why: a policy that exploits a learned PAV on subset sum forges `-> 0` lines and repeats them (RESULTS.md
5b, "A learned PAV of the exact oracle"); its label run (`pavlab label --policy RL_POLICY ...`) already
holds the samples, so counting them needs no new sampling.
Usage: python scripts/label_line_counts.py LABEL_RUN [LABEL_RUN ...]
"""

from __future__ import annotations

import sys

from pavlab.labeling.format import read_label_rows, resolve_label_paths


def main(runs: list[str]) -> None:
    for run in runs:
        rows = read_label_rows(resolve_label_paths([run]))
        lines = sum(len(row.steps) for row in rows) / len(rows)
        correct = sum(row.correct for row in rows) / len(rows)
        forged = sum(any("-> 0" in step for step in row.steps[:-1]) for row in rows) / len(rows)
        print(f"{run}: {len(rows)} responses, {lines:.2f} lines each, {correct:.1%} correct, "
              f"{forged:.1%} with a '-> 0' line before the last")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    main(sys.argv[1:])
