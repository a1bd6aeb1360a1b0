"""Why subset-sum responses fail: the first bad line of each sampled response, by kind; what made each response
fail (the first line after which it could no longer end correct); and how often a line from a live state
subtracts wrongly, by the number it takes.

Why: a response that "ends in an invalid line" (`pavlab study testbed`'s endings) may have taken a number it
does not have, subtracted wrongly or miscopied the list, and RL moves these shares differently (RESULTS.md
section 5b, "A start that fails by its choices"). The per-line rates say *where* the subtraction breaks: after
the smallest number that fits (the start's habit) or after another one, and after a choice that keeps the
target reachable or one that strands it. The fatal line tells the shares that cost accuracy from those that
do not: a line that breaks a rule after the need is already unreachable (or on a dead-end choice) loses nothing.
Reads `samples.jsonl` files of `pavlab study testbed`.

Usage: python scripts/invalid_lines.py SAMPLES.jsonl [...]
e.g.   python scripts/invalid_lines.py runs/regime/testbed-habit85/samples.jsonl
"""

from __future__ import annotations

import collections
import json
import sys

from pavlab.tasks.subset_sum import SubsetSumTask, first_broken_rule, good_takes, parse_take, reachable


def live_subtractions(numbers: tuple[int, ...], target: int, steps: list[str]) -> list[tuple[str, str, bool]]:
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


def fatal_line(numbers: tuple[int, ...], target: int, steps: list[str]) -> str:
    """What made the response fail: the first line after which it cannot end correct, a valid one that strands the
    need ("dead-end choice") or one that breaks a rule from a live state ("invalid: RULE"); "correct" or
    "stopped while alive" when none did."""
    for count in range(1, len(steps) + 1):
        left, need, broken = first_broken_rule(numbers, target, steps[:count])
        if broken is not None:
            return f"invalid: {broken}"
        if not reachable(left, need):
            return "dead-end choice"
    left, need, _ = first_broken_rule(numbers, target, steps)
    return "correct" if steps and need == 0 else "stopped while alive"


def writes_zero_past_the_need(numbers: tuple[int, ...], target: int, steps: list[str]) -> bool:
    """Whether the first rule-breaking line takes a number larger than the need and writes "-> 0": the ending of
    a correct response copied onto a state that cannot end there (a "wrong subtraction" by its rule)."""
    for count in range(1, len(steps) + 1):
        if first_broken_rule(numbers, target, steps[:count])[2] is not None:
            _, need, _ = first_broken_rule(numbers, target, steps[:count - 1])
            parsed = parse_take(steps[count - 1])
            return parsed is not None and parsed[0] > need and parsed[1] == 0
    return False


def main(paths: list[str]) -> None:
    task = SubsetSumTask()  # for its line splitting and prompt reading; every rule is read off the prompt
    for path in paths:
        kinds: collections.Counter[str] = collections.Counter()
        fatal: collections.Counter[str] = collections.Counter()
        overreach: collections.Counter[bool] = collections.Counter()
        lines: collections.Counter[tuple[str, bool]] = collections.Counter()
        for line in open(path):
            row = json.loads(line)
            numbers, target = task.state_of_prompt(row["prompt"])
            steps = task.split_steps(row["response"])
            kinds[first_broken_rule(numbers, target, steps)[2] or "valid lines"] += 1
            killed_by = fatal_line(numbers, target, steps)
            fatal[killed_by] += 1
            if killed_by == "invalid: wrong subtraction":
                overreach[writes_zero_past_the_need(numbers, target, steps)] += 1
            for habit, choice, right in live_subtractions(numbers, target, steps):
                lines[habit, right] += 1
                lines[choice, right] += 1
        total = sum(kinds.values())
        print(path, {kind: round(count / total, 3) for kind, count in kinds.most_common()})
        print("  fatal line:", {kind: round(count / total, 3) for kind, count in fatal.most_common()})
        print(f"  fatal wrong subtractions that take a number above the need and write 0: {overreach[True]} of "
              f"{overreach[True] + overreach[False]}")
        print("  wrong subtractions per live line, by the number taken:",
              {kind: f"{lines[kind, False] / max(1, lines[kind, False] + lines[kind, True]):.1%} of "
                     f"{lines[kind, False] + lines[kind, True]}" for kind in ("smallest", "other", "good", "dead-end")})


if __name__ == "__main__":
    main(sys.argv[1:])
