"""Does an RL policy still subtract on the *start's* lines? Teacher-forced, so the choices do not matter.

Why: `invalid_lines.py` counts wrong subtractions on each policy's own samples, where RL has also moved
the choices and so the states a line is written from. This script holds the lines fixed (the lines of
a samples file that take an available number from a live state) and reads each policy's probability of
the correct result token after the line's own choice: a drop here is arithmetic lost, not a change of states.
Lines are split by their choice: one that keeps the target reachable (good) or a dead end.

Usage: python scripts/arithmetic_probe.py SAMPLES.jsonl POLICY [POLICY ...]
e.g.   python scripts/arithmetic_probe.py runs/regime/testbed-habit85-long/samples.jsonl \
           runs/regime/policy-habit85-long runs/habit85long/rl-exact/runs/ORM-RL/seed0/policy
"""

from __future__ import annotations

import json
import sys

import torch

from pavlab.policies.loading import load_policy
from pavlab.policies.tokenization import encode_prompt, encode_response
from pavlab.tasks.subset_sum import apply_takes, parse_take, question_of_id, reachable


def probed_lines(text: str, numbers: tuple[int, ...], target: int) -> list[tuple[str, bool]]:
    """(the response up to a line's correct result, choice is good) for each line that takes an available
    number from a live state after valid lines, whatever result it wrote (so a policy's own slips count)."""
    found, steps = [], []
    for line in text.split("\n"):
        parsed, state = parse_take(line), apply_takes(numbers, target, steps)
        if parsed is None or state is None or not reachable(*state):
            break
        left, need = state
        taken = parsed[0]
        if taken not in left or taken > need:
            break
        prefix = "".join(step + "\n" for step in steps)
        found.append((f"{prefix}{taken} -> {need - taken}", reachable(tuple(x for x in left if x != taken),
                                                                      need - taken)))
        steps.append(line)
    return found


def main(samples_path: str, *policies: str) -> None:
    torch.set_num_threads(1)
    rows = [json.loads(line) for line in open(samples_path)]
    for policy_dir in policies:
        backend = load_policy(policy_dir)
        model, tokenizer = backend.model, backend.tokenizer
        probs: dict[bool, list[float]] = {True: [], False: []}
        for row in rows:
            numbers, target = question_of_id(row["problem_id"])
            prompt_ids = encode_prompt(tokenizer, row["prompt"])
            for text, good in probed_lines(row["response"], numbers, target):
                ids = prompt_ids + encode_response(tokenizer, text)[0]
                with torch.no_grad():
                    logits = model(input_ids=torch.tensor([ids[:-1]])).logits[0, -1]
                probs[good].append(float(torch.softmax(logits.float(), -1)[ids[-1]]))
        summary = {("good" if good else "dead-end"): f"p(correct result) {sum(p) / len(p):.4f}, "
                   f"below 0.5 on {sum(x < 0.5 for x in p) / len(p):.1%} of {len(p)} lines"
                   for good, p in probs.items() if p}
        print(policy_dir, summary)


if __name__ == "__main__":
    main(*sys.argv[1:])
