"""The paper's didactic task: find a hidden sub-sequence, and its procedural prover mu_gamma.

Why this task: every prefix has an exact value under the procedural prover (a small dynamic
program), so prover advantages, PAV labels and RL with process rewards can be checked against
ground truth, and the prover's strength is one number, gamma.

Decisions where the paper is loose (PAPER.md, "The didactic task"):

- Vocabulary: the 14 content tokens "1".."14"; the policy's own EOS ends a response early.
- A response has at most H steps, one token per step (the horizon H: ``HORIZON`` = 10 by default,
  the task's ``horizon`` option, ``--task.horizon``); a step is the token's decimal string and
  steps are separated by "\\n". Steps after the H-th do not count. Why an option: at H = 10 even
  mu_30 succeeds only 42% of the time, so the paper's "too strong a prover saturates" needs a
  longer horizon to show (RESULTS.md section 5, "The gamma window on a longer horizon").
- The hidden sequence y* has length ``TARGET_LENGTH`` = 5. So that y* can be learned from the
  prompt (a policy must generalise across problems), the prompt shows five key tokens
  x_1..x_5 (e.g. ``3 11 7 2 9``) and y*_i = sigma(x_i) for the fixed permutation ``SIGMA``
  (``SIGMA[t - 1]`` = sigma(t)), drawn once by ``random.Random(241008146).shuffle`` of 1..14.
  Keys are drawn with replacement, so y* may repeat tokens.
- Rex = 1 iff y* appears contiguously among the first H steps. A step that is not one of the
  14 tokens (after stripping spaces) breaks a match; blank lines are not steps.
- Splits: a key tuple belongs to train / val / test by a hash of the keys (80 / 10 / 10 %), so
  splits never share a problem whatever the seed.
- Prover mu_gamma: with k the longest suffix of the response so far that is a prefix of y* (the
  KMP state), it puts weight gamma on y*_{k+1} and 1 on each other content token; once y* has
  appeared (k = 5) it is uniform. It never ends a response before H steps.
"""

from __future__ import annotations

import hashlib
import math
import random
from functools import lru_cache

from pavlab.errors import PavlabError
from pavlab.tasks.base import SPLIT_BUCKETS, SPLITS, Problem, Task

VOCAB_SIZE = 14
TOKENS = tuple(range(1, VOCAB_SIZE + 1))
HORIZON = 10
TARGET_LENGTH = 5
SIGMA: tuple[int, ...] = (8, 4, 1, 10, 6, 13, 14, 7, 5, 3, 11, 2, 9, 12)
SIGMA_SEED = 241008146
# The size of a split when `problems(split)` asks for all (its hash buckets are `SPLIT_BUCKETS`).
_DEFAULT_SPLIT_SIZE = {"train": 5000, "val": 500, "test": 500}


def split_of_keys(keys: tuple[int, ...]) -> str:
    """The split a key tuple belongs to, from a stable hash (independent of any seed)."""
    bucket = int(hashlib.sha256(("planted:" + " ".join(map(str, keys))).encode()).hexdigest(), 16) % 100
    return next(split for split, buckets in SPLIT_BUCKETS.items() if bucket in buckets)


def target_of_keys(keys: tuple[int, ...]) -> tuple[int, ...]:
    """y* for the prompt keys: y*_i = sigma(x_i)."""
    return tuple(SIGMA[key - 1] for key in keys)


def make_problem(keys: tuple[int, ...]) -> Problem:
    """The problem whose prompt shows `keys`; its answer is y* as space-separated tokens."""
    if len(keys) != TARGET_LENGTH or any(key not in TOKENS for key in keys):
        raise PavlabError(f"planted keys must be {TARGET_LENGTH} tokens in 1..{VOCAB_SIZE}, got {keys}")
    target = target_of_keys(keys)
    return Problem(id="planted-" + "-".join(map(str, keys)), question=" ".join(map(str, keys)),
                   answer=" ".join(map(str, target)), meta={"keys": list(keys), "target": list(target)})


def parse_token(step: str) -> int | None:
    """The content token a step spells, or None when it is not one of "1".."14"."""
    text = step.strip()
    if not text.isascii() or not text.isdigit() or (len(text) > 1 and text[0] == "0"):
        return None
    value = int(text)
    return value if 1 <= value <= VOCAB_SIZE else None


def target_of(problem: Problem) -> tuple[int, ...]:
    """y* of a problem, read from its answer string (so problems read back from disk work)."""
    tokens = tuple(parse_token(part) for part in problem.answer.split())
    if len(tokens) != TARGET_LENGTH or None in tokens:
        raise PavlabError(f"not a planted problem: answer {problem.answer!r} is not {TARGET_LENGTH} tokens",
                          field="answer")
    return tokens  # type: ignore[return-value]


@lru_cache(maxsize=4096)
def transitions(target: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """KMP automaton: `transitions(target)[k][token]` is the next match state (token 0 = unparsable).

    State k < len(target) means the last k tokens equal target[:k]; state len(target) (matched)
    is absorbing.
    """
    length = len(target)
    table = []
    for state in range(length + 1):
        row = []
        for token in range(VOCAB_SIZE + 1):
            if state == length:
                row.append(length)
                continue
            seen = (*target[:state], token)
            row.append(next(k for k in range(min(len(seen), length), -1, -1) if seen[len(seen) - k:] == target[:k]))
        table.append(tuple(row))
    return tuple(table)


def match_states(target: tuple[int, ...], tokens: list[int | None]) -> list[int]:
    """KMP state before any token and after each of `tokens` (len(tokens) + 1 entries)."""
    table = transitions(target)
    states = [0]
    for token in tokens:
        states.append(table[states[-1]][token or 0])
    return states


def prover_probs(target: tuple[int, ...], state: int, gamma: float) -> list[float]:
    """mu_gamma's next-token probabilities over TOKENS in match state `state`."""
    if gamma <= 0:
        raise PavlabError(f"prover strength gamma must be > 0, got {gamma}", field="gamma")
    if state >= len(target):
        return [1.0 / VOCAB_SIZE] * VOCAB_SIZE
    weights = [gamma if token == target[state] else 1.0 for token in TOKENS]
    total = sum(weights)
    return [weight / total for weight in weights]


@lru_cache(maxsize=4096)
def _value_table(target: tuple[int, ...], gamma: float, horizon: int) -> tuple[tuple[float, ...], ...]:
    """`table[r][k]`: chance mu_gamma reaches the full match within r more tokens from state k."""
    table = transitions(target)
    done = len(target)
    values = [tuple(1.0 if k == done else 0.0 for k in range(done + 1))]
    for _ in range(horizon):
        previous = values[-1]
        values.append(tuple(
            1.0 if k == done else sum(p * previous[table[k][token]]
                                      for p, token in zip(prover_probs(target, k, gamma), TOKENS, strict=True))
            for k in range(done + 1)))
    return tuple(values)


def exact_q_values(problem: Problem, steps: list[str], gamma: float, horizon: int = HORIZON) -> list[float]:
    """Q^{mu_gamma} of every prefix of `steps` (index 0 = bare prompt): mu_gamma's chance of success.

    A prefix that already contains y* within the horizon has value 1; steps past the horizon
    change nothing.
    """
    target = target_of(problem)
    counted = [parse_token(step) for step in steps[:horizon]]
    states = match_states(target, counted)
    table = _value_table(target, float(gamma), horizon)
    values = [table[horizon - h][state] for h, state in enumerate(states)]
    return values + [values[-1]] * (len(steps) - len(counted))


def exact_q_value(problem: Problem, steps: list[str], gamma: float, horizon: int = HORIZON) -> float:
    """Q^{mu_gamma} of the state after `steps`: the chance mu_gamma, continuing from it, gets Rex = 1."""
    return exact_q_values(problem, steps, gamma, horizon)[-1]


def check_horizon(horizon: int) -> int:
    """`horizon` if a response of that many steps can hold y*, else a PavlabError naming `task.horizon`."""
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < TARGET_LENGTH:
        raise PavlabError(f"planted horizon must be an integer >= {TARGET_LENGTH} (the length of y*), got {horizon!r}",
                          field="task.horizon")
    return horizon


class PlantedTask(Task):
    """Planted sub-sequence (the paper's didactic task): emit the 5 hidden tokens in a row within `horizon` steps."""

    name = "planted"

    def __init__(self, horizon: int = HORIZON) -> None:
        self.horizon = check_horizon(horizon)

    def options(self) -> dict[str, int]:
        """Constructor arguments, so a saved testbed can rebuild the same task (none at the default horizon)."""
        return {} if self.horizon == HORIZON else {"horizon": self.horizon}

    def q_values(self, problem: Problem, steps: list[str], gamma: float) -> list[float]:
        """`exact_q_values` at this task's horizon: what a mu:GAMMA prover is worth on this task."""
        return exact_q_values(problem, steps, gamma, self.horizon)

    def problems(self, split: str, n: int | None = None, seed: int = 0) -> list[Problem]:
        if split not in SPLITS:
            raise PavlabError(f"unknown split '{split}' (expected one of {', '.join(SPLITS)})", field="split")
        count = _DEFAULT_SPLIT_SIZE[split] if n is None else n
        capacity = int(0.9 * VOCAB_SIZE ** TARGET_LENGTH * len(SPLIT_BUCKETS[split]) / 100)  # keys it can draw
        if count > capacity:
            raise PavlabError(f"the planted {split} split has about {capacity} problems; asked for {count}", field="n")
        rng = random.Random(f"planted:{split}:{seed}")
        seen: dict[tuple[int, ...], Problem] = {}
        while len(seen) < count:
            keys = tuple(rng.choice(TOKENS) for _ in range(TARGET_LENGTH))
            if keys not in seen and split_of_keys(keys) == split:
                seen[keys] = make_problem(keys)
        return list(seen.values())

    def problem_from_prompt(self, prompt: str) -> Problem:
        """The problem a prompt shows (y* follows from the keys), so a prover needs no lookup table."""
        keys = tuple(parse_token(part) for part in prompt.split())
        if len(keys) != TARGET_LENGTH or None in keys:
            raise PavlabError(f"not a planted prompt (expected {TARGET_LENGTH} tokens in 1..{VOCAB_SIZE}): "
                              f"{prompt[:80]!r}", field="prompt")
        return make_problem(keys)  # type: ignore[arg-type]

    def counted_tokens(self, response: str) -> list[int | None]:
        """Parsed tokens of the steps that count (the first `horizon`); None marks an unparsable step."""
        return [parse_token(step) for step in self.split_steps(response)[:self.horizon]]

    def extract_answer(self, response: str) -> str | None:
        steps = [step.strip() for step in self.split_steps(response)[:self.horizon]]
        return " ".join(steps) if steps else None

    def is_correct(self, response: str, problem: Problem) -> bool:
        try:
            target = target_of(problem)
        except PavlabError:
            return False
        return match_states(target, self.counted_tokens(response))[-1] == len(target)


def sample_prover_step(target: tuple[int, ...], state: int, gamma: float, rng: random.Random,
                       temperature: float = 1.0, top_p: float = 1.0) -> tuple[int, float]:
    """One token from mu_gamma (reshaped by temperature and nucleus top_p) and its log-probability."""
    probs = prover_probs(target, state, gamma)
    if temperature <= 0:
        best = max(range(VOCAB_SIZE), key=probs.__getitem__)
        return TOKENS[best], 0.0
    weights = [p ** (1.0 / temperature) for p in probs]
    total = sum(weights)
    ranked = sorted(range(VOCAB_SIZE), key=lambda i: -weights[i])
    kept, mass = [], 0.0
    for index in ranked:
        kept.append(index)
        mass += weights[index] / total
        if mass >= top_p - 1e-12:
            break
    kept_total = sum(weights[i] for i in kept)
    choice = rng.choices(kept, weights=[weights[i] for i in kept])[0]
    return TOKENS[choice], math.log(weights[choice] / kept_total)
