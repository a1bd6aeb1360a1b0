"""Where the RL rewards come from: the outcome return Q^pi and the prover's values Q^mu of every prefix.

Outcome: the exact check Rex by default, or an ORM's predicted success of the whole response.
Prover values (H+1 per response, index 0 = bare prompt): exact `Q^{mu_gamma}` on the planted
task (`mu:GAMMA`, at the task's horizon), the exact solvability of every prefix on a task with an oracle (`oracle`: the
values of a prover that never fails from a solvable state, so a step's advantage is -1 exactly
when it throws the win away; the ceiling of dead-end detection), the exact success chance of the
subset-sum testbed's noisy solver (`solver:P`: a graded prover whose strength P sets, the oracle at
P = 1), or a fixed PAV (`ProcessVerifier`) for any task. With alpha = 0 no prover is built, so outcome-only RL pays
nothing for step scoring.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from pavlab.errors import PavlabError
from pavlab.policies.base import ComputeMeter
from pavlab.policies.prover_spec import is_exact_prover, procedural_gamma, solver_good_move_prob
from pavlab.rl.config import RLConfig
from pavlab.tasks.base import Problem, Task

OutcomeFn = Callable[[Sequence[Problem], Sequence[str]], np.ndarray]
ProverFn = Callable[[Sequence[Problem], Sequence[Sequence[str]]], list[np.ndarray]]


def build_outcome(config: RLConfig, task: Task, meter: ComputeMeter) -> OutcomeFn:
    """Outcome returns of responses (texts) to problems: Rex in {0, 1}, or an ORM score in (0, 1)."""
    if config.orm is None:
        return lambda problems, texts: np.array(
            [float(task.is_correct(text, problem)) for problem, text in zip(problems, texts, strict=True)])
    orm = value_model_scores(config.orm, config.device, task, meter)  # a pavlab ORM folder or a third-party PRM

    def orm_outcome(problems: Sequence[Problem], texts: Sequence[str]) -> np.ndarray:
        return np.array([v[-1] for v in orm(problems, [task.split_steps(text) for text in texts])])

    return orm_outcome


def value_model_scores(spec: str | Path, device: str, task: Task, meter: ComputeMeter) -> ProverFn:
    """The H+1 values one value model (a pavlab verifier folder or a third-party PRM spec) gives every prefix."""
    from pavlab.verifiers.scoring import score_prefixes
    from pavlab.verifiers.third_party import load_value_model

    model, tokenizer = load_value_model(spec)
    model.to(device)

    def scores(problems: Sequence[Problem], steps_lists: Sequence[Sequence[str]]) -> list[np.ndarray]:
        return score_prefixes(model, tokenizer, [task.prompt(p) for p in problems], steps_lists,
                              model.info.step_separator, meter=meter)

    return scores


def exact_prefix_value(task: Task, prover: str) -> Callable[[Problem, list[str]], float]:
    """The value of a prefix under a prover the task computes exactly: `oracle` (can it still win, 0/1) or
    `solver:P` (the subset-sum solver's success chance); a task that cannot is a one-line error."""
    good_move_prob = solver_good_move_prob(prover)
    if good_move_prob is None:
        alive = getattr(task, "prefix_alive", None)
        if not callable(alive):
            raise PavlabError(f"prover 'oracle' needs a task with an exact prefix oracle (countdown, subset_sum), "
                              f"not '{task.name}'", field="prover")
        return lambda problem, steps: float(alive(problem, steps))
    value = getattr(task, "prefix_solver_value", None)
    if not callable(value):
        raise PavlabError(f"prover {prover!r} needs the subset_sum task (its solver's values are exact), not "
                          f"'{task.name}'", field="prover")
    return lambda problem, steps: value(problem, steps, good_move_prob)


def exact_prover_values(task: Task, prover: str) -> ProverFn:
    """An exact prover's value of every proper prefix; the finished response scores its outcome, as every
    prover's does. A response without steps keeps its bare prompt's value (its one entry is index 0, the state
    its ending leaves: the reward reads the outcome from `terminal_value`, rl/rewards.py)."""
    prefix_value = exact_prefix_value(task, prover)

    def values(problems: Sequence[Problem], steps_lists: Sequence[Sequence[str]]) -> list[np.ndarray]:
        out = []
        for problem, steps in zip(problems, steps_lists, strict=True):
            if not steps:
                out.append(np.array([prefix_value(problem, [])]))
                continue
            states = [prefix_value(problem, list(steps[:h])) for h in range(len(steps))]
            out.append(np.array([*states, float(task.is_correct(task.prefix_text(list(steps)), problem))]))
        return out

    return values


def oracle_values(task: Task) -> ProverFn:
    """1 for every prefix the task's oracle says can still win, else 0; the finished response scores its outcome."""
    return exact_prover_values(task, "oracle")


def build_prover(config: RLConfig, task: Task, meter: ComputeMeter) -> ProverFn | None:
    """H+1 prover values per response, or None when alpha = 0 (outcome-only RL needs none)."""
    if config.alpha == 0.0 or config.prover is None:
        return None
    if is_exact_prover(config.prover):
        return exact_prover_values(task, config.prover)
    gamma = procedural_gamma(config.prover)
    if gamma is not None:
        from pavlab.tasks.planted import PlantedTask

        if not isinstance(task, PlantedTask):
            raise PavlabError(f"prover {config.prover!r} needs the planted task, not '{task.name}'", field="prover")
        return lambda problems, steps_lists: [np.asarray(task.q_values(problem, list(steps), gamma))
                                              for problem, steps in zip(problems, steps_lists, strict=True)]
    from pavlab.policies.prover_spec import Prover
    from pavlab.provers.rank import resolve_prover
    from pavlab.verifiers.step_scores import ProcessVerifier

    prover, reason = resolve_prover(config.prover, config.labels)
    if reason:
        print(f"--prover auto chose {prover}: {reason}")
    parsed = Prover.parse(prover)
    if parsed.kind == "model":  # its own verifier: PAV-RL reads no Q^pi, so none is loaded
        return value_model_scores(parsed.path, config.device, task, meter)
    verifier = ProcessVerifier.load(config.verifier, prover, device=config.device)

    def pav_values(problems: Sequence[Problem], steps_lists: Sequence[Sequence[str]]) -> list[np.ndarray]:
        return [values.q_mu for values in verifier.score([task.prompt(p) for p in problems], steps_lists, meter)]

    return pav_values
