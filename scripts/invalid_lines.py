"""Why subset-sum responses fail: the first bad line of each sampled response, by kind, and how often a line
from a live state subtracts wrongly, by the number it takes.

Why: a response that "ends in an invalid line" (`pavlab study testbed`'s endings) may have taken a number it
does not have, subtracted wrongly or miscopied the list, and RL moves these shares differently (RESULTS.md
section 5b, "A start that fails by its choices"). The per-line rates say *where* the subtraction breaks: after
the smallest number that fits (the start's habit) or after another one, and after a choice that keeps the
target reachable or one that strands it. Reads `samples.jsonl` files of `pavlab study testbed`.

Usage: python scripts/invalid_lines.py SAMPLES.jsonl [...]
e.g.   python scripts/invalid_lines.py runs/regime/testbed-habit85/samples.jsonl
"""

from __future__ import annotations

import collections
import json
import sys

from pavlab.tasks.subset_sum import SubsetSumTask, first_broken_rule, good_takes, parse_take, reachable


def live_subtractions(numbers: list[int], target: int, steps: list[str]) -> list[tuple[str, str, bool]]:
    """(smallest|other, good|dead-end, subtraction right?) for each line that takes an available number from a
    live state, up to the first invalid line or dead end."""
    left, need, lines = tuple(sorted(numbers)), target, []
    for step in steps:
        parsed = parse_take(step)
        if parsed is None or not reachable(left, need) or need == 0 or parsed[0] not in left or parsed[0] > need:
            break
        taken, after, _ = parsed
        habit = "smallest" if taken == min(x for x in left if x <= need) else "other"
        lines.append((habit, "good" if taken in good_takes(left, need) else "dead-end", after == need - taken))
        if after != need - taken:
            break
        left, need = tuple(x for x in left if x != taken), after
    return lines


def main(paths: list[str]) -> None:
    task = SubsetSumTask()  # for its line splitting only; every rule is read off the prompt
    for path in paths:
        kinds: collections.Counter[str] = collections.Counter()
        lines: collections.Counter[tuple[str, bool]] = collections.Counter()
        for line in open(path):
            row = json.loads(line)
            numbers_text, target_text = row["prompt"].split("->")
            numbers, target = [int(x) for x in numbers_text.split()], int(target_text)
            steps = task.split_steps(row["response"])
            kinds[first_broken_rule(numbers, target, steps)[2] or "valid lines"] += 1
            for habit, choice, right in live_subtractions(numbers, target, steps):
                lines[habit, right] += 1
                lines[choice, right] += 1
        total = sum(kinds.values())
        print(path, {kind: round(count / total, 3) for kind, count in kinds.most_common()})
        print("  wrong subtractions per live line, by the number taken:",
              {kind: f"{lines[kind, False] / max(1, lines[kind, False] + lines[kind, True]):.1%} of "
                     f"{lines[kind, False] + lines[kind, True]}" for kind in ("smallest", "other", "good", "dead-end")})


if __name__ == "__main__":
    main(sys.argv[1:])
