"""Dense rewards for policy gradient: effective step rewards, spread onto the tokens of each step.

Pure functions (numpy only, no model, no trainer) so that any RL backend (pavlab's own trainer,
a verl reward function, a TRL reward wrapper) computes exactly the same per-token rewards.

Conventions:
- Step h (1-based in the paper, 0-based here) gets the effective reward
  `Q^pi(s_h, a_h) + alpha * A^mu(s_h, a_h)`, where Q^pi is the outcome return of the whole
  sampled response (the same for every step) and `A^mu_h = Q^mu_h - Q^mu_{h-1}` comes from the
  H+1 prover values of the response (index 0 = bare prompt).
- A token belongs to the first step whose end character (its trailing separator included) lies
  after the token's first character: the same rule `verifiers.positions` uses to place a step's
  scoring position, so a separator merged into a neighbouring token never shifts a step.
  Blank lines belong to the step after them; tokens past the last step (trailing text, EOS) to
  the last step. A response without steps gives every token the outcome return, and when it is
  finished (below) its ending is its one action: outcome + alpha * (terminal value - Q^mu(s_0)).
- A sampled response is finished (EOS or the length cap), so its final state has no
  continuation: its prover value is the outcome itself (`terminal_value`). Then the advantages of
  a response sum to `Rex - Q^mu(s_0)`, and a policy cannot bank progress by taking a few good
  steps and then stalling (blank lines, an early EOS): the last step pays the shortfall back.
  Without this, exact `mu_gamma` values (which assume the prover goes on) are hacked that way.
  The empty response pays the same shortfall: without it, saying nothing was the one failed
  response with no negative advantage, and an RL run at lr 1e-3 on a policy that rarely wrote a
  valid line collapsed to empty responses (RESULTS.md section 5b, "A starved subset-sum start").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from pavlab.policies.tokenization import first_content_tokens, response_step_ends, token_step_indices
from pavlab.verifiers.progress import RewardKind, effective_rewards

# Which tokens of a step carry its prover term: all of them (the paper's step-level reward), or only the
# step's first token (where a task's step makes its choice, e.g. the number a subset-sum line takes);
# the outcome return is on every token either way. A learned PAV that ranks choices but cannot check a line's
# arithmetic pays for wrong arithmetic when its term reaches every token (RESULTS.md section 5b, "The PAV's
# reward on the choice token only").
StepCredit = Literal["step", "first_token"]


def token_rewards(rewards_per_step: Sequence[float] | np.ndarray, token_steps: Sequence[int],
                  outcome: float, carriers: Sequence[bool] | None = None) -> np.ndarray:
    """Each token's reward: its step's reward, or `outcome` for a token outside every step (step -1) or,
    when `carriers` is given, for a token it marks False."""
    rewards = np.asarray(rewards_per_step, dtype=np.float64)
    steps = np.asarray(token_steps, dtype=np.int64)
    if steps.size and steps.max() >= rewards.size:
        raise ValueError(f"token assigned to step {steps.max()} but only {rewards.size} step rewards")
    result = np.full(steps.shape, float(outcome))
    inside = steps >= 0
    if carriers is not None:
        inside &= np.asarray(carriers, dtype=bool)
    result[inside] = rewards[steps[inside]]
    return result


def execution_tokens(text: str, offsets: Sequence[tuple[int, int]], separator: str) -> list[bool]:
    """True for each token that carries a step's choice out: every token of a step but its first content token
    (where it chooses), so a subset-sum line's result and list, its separator, and EOS. A response without
    steps has no execution: all False.

    Why: a step whose choice is penalized pushes down its whole line, and on such a line a correct and a wrong
    result are equally doomed, so nothing in the reward keeps the arithmetic (RESULTS.md section 5b). RL can
    anchor these tokens to the start (`RLConfig.execution_kl_coef`) or leave them out of the policy gradient
    (`RLConfig.train_execution`) while the choices move. (On the subset-sum testbed neither lifted PAV-RL:
    RESULTS.md section 5b, "What caps the gain".)
    """
    steps = token_step_indices(offsets, response_step_ends(text, separator))
    choices = first_content_tokens(text, offsets, steps)
    return [step >= 0 and not chosen for chosen, step in zip(choices, steps, strict=True)]


def response_token_rewards(text: str, offsets: Sequence[tuple[int, int]], separator: str, outcome: float,
                           prover_values: Sequence[float] | np.ndarray | None, alpha: float,
                           kind: RewardKind = "advantage", terminal_value: float | None = None,
                           credit: StepCredit = "step") -> np.ndarray:
    """Per-token rewards of one response from its text, token character offsets and prover values.

    `prover_values` holds the H+1 values of the H steps of `text` (None for outcome-only reward,
    where every token gets `outcome`); `terminal_value`, when given, replaces the value of the
    final state (see the module doc). Append `(len(text), len(text))` to `offsets` for an EOS
    token so it is rewarded with the last step. `credit` says which tokens of a step carry its reward.
    """
    ends = response_step_ends(text, separator)
    if prover_values is None or alpha == 0.0:
        return np.full(len(offsets), float(outcome))
    if len(prover_values) != len(ends) + 1:
        raise ValueError(f"{len(ends)} steps need {len(ends) + 1} prover values, got {len(prover_values)}")
    if terminal_value is not None and not ends:  # a finished empty response: its ending is its one step
        return np.full(len(offsets), effective_rewards(outcome, [prover_values[0], terminal_value], alpha, kind)[0])
    if terminal_value is not None:
        prover_values = [*prover_values[:-1], terminal_value]
    steps = token_step_indices(offsets, ends)
    carriers = first_content_tokens(text, offsets, steps) if credit == "first_token" else None
    return token_rewards(effective_rewards(outcome, prover_values, alpha, kind), steps, outcome, carriers)
