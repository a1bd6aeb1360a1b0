"""Why subset-sum responses fail: the first bad line of each sampled response, by kind.

Why: a response that "ends in an invalid line" (`pavlab study testbed`'s endings) may have taken a number it
does not have, subtracted wrongly or miscopied the list, and RL moves these shares differently (RESULTS.md
section 5b, "A start that fails by its choices"). Reads `samples.jsonl` files of `pavlab study testbed`.

Usage: python scripts/invalid_lines.py N_NUMBERS MAX_NUMBER MIN_TAKE MAX_TAKE SAMPLES.jsonl [...]
e.g.   python scripts/invalid_lines.py 8 20 6 7 runs/regime/testbed-habit85/samples.jsonl
"""

from __future__ import annotations

import collections
import json
import sys

from pavlab.tasks.subset_sum import SubsetSumTask, parse_take


def first_bad_line(task: SubsetSumTask, numbers: list[int], target: int, text: str) -> str:
    """The kind of the first line that breaks the rules, or "valid lines" when none does."""
    left, need = sorted(numbers), target
    for step in task.split_steps(text):
        parsed = parse_take(step)
        if parsed is None:
            return "malformed"
        taken, after, annotation = parsed
        if taken not in left:
            return "number not available" if taken <= need else "number above need"
        if after != need - taken:
            return "wrong subtraction"
        left.remove(taken)
        if annotation is not None and sorted(annotation) != left:
            return "wrong list"
        need = after
    return "valid lines"


def main(options: list[str], paths: list[str]) -> None:
    task = SubsetSumTask(*map(int, options))
    for path in paths:
        kinds: collections.Counter[str] = collections.Counter()
        for line in open(path):
            row = json.loads(line)
            numbers, target = row["prompt"].split("->")
            kinds[first_bad_line(task, [int(x) for x in numbers.split()], int(target), row["response"])] += 1
        total = sum(kinds.values())
        print(path, {kind: round(count / total, 3) for kind, count in kinds.most_common()})


if __name__ == "__main__":
    main(sys.argv[1:5], sys.argv[5:])
