"""Why subset-sum responses fail: the first bad line of each sampled response, by kind.

Why: a response that "ends in an invalid line" (`pavlab study testbed`'s endings) may have taken a number it
does not have, subtracted wrongly or miscopied the list, and RL moves these shares differently (RESULTS.md
section 5b, "A start that fails by its choices"). Reads `samples.jsonl` files of `pavlab study testbed`.

Usage: python scripts/invalid_lines.py SAMPLES.jsonl [...]
e.g.   python scripts/invalid_lines.py runs/regime/testbed-habit85/samples.jsonl
"""

from __future__ import annotations

import collections
import json
import sys

from pavlab.tasks.subset_sum import SubsetSumTask, first_broken_rule


def main(paths: list[str]) -> None:
    task = SubsetSumTask()  # for its line splitting only; every rule is read off the prompt
    for path in paths:
        kinds: collections.Counter[str] = collections.Counter()
        for line in open(path):
            row = json.loads(line)
            numbers, target = row["prompt"].split("->")
            steps = task.split_steps(row["response"])
            kinds[first_broken_rule([int(x) for x in numbers.split()], int(target), steps)[2] or "valid lines"] += 1
        total = sum(kinds.values())
        print(path, {kind: round(count / total, 3) for kind, count in kinds.most_common()})


if __name__ == "__main__":
    main(sys.argv[1:])
