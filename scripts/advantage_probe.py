"""How well a PAV's step *advantages* find dead-end steps, next to how well its *values* rank states.

Why: PAV-RL rewards each step by the prover's advantage Q^mu(s_h+1) - Q^mu(s_h), a difference of two
learned values, while the verifier's dead-end AUC (RESULTS.md section 2) is measured on the values.
On a task with an exact prefix oracle this script samples the policy, scores every prefix with the
PAV and the oracle, and prints both AUCs. The last value is set to the outcome, as the RL trainer does.

Usage: python scripts/advantage_probe.py POLICY VERIFIER PROVER [PROBLEMS] [SAMPLES]
e.g.   python scripts/advantage_probe.py src/pavlab/testbeds/subset_sum runs/ss/vscale/prm-100000/model \
           model:runs/ss/vscale/pav-bo16-100000/model 200 2
PROVER may also be an exact prover (`oracle`, `solver:P`); then VERIFIER is not read (write `-`).
The problems are those the policy was trained on: the task options in its testbed.json (the default
subset-sum task when it has none).
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from pavlab.policies.base import SamplingParams
from pavlab.policies.prover_spec import is_exact_prover
from pavlab.policies.registry import build_policy
from pavlab.policies.start_task import start_task
from pavlab.rl.scoring import exact_prover_values, oracle_values
from pavlab.tasks.registry import TaskConfig, get_task
from pavlab.verifiers.calibration import roc_auc
from pavlab.verifiers.progress import advantages
from pavlab.verifiers.step_scores import ProcessVerifier


def main(policy_dir: str, verifier_dir: str, prover: str, problems: int = 200, samples: int = 2) -> None:
    torch.set_num_threads(1)
    task = get_task(start_task(TaskConfig(name="subset_sum"), policy_dir))
    chosen = task.problems("train", problems)
    policy = build_policy(policy_dir, task)
    completions = policy.sample([task.prompt(p) for p in chosen], [""] * len(chosen), samples,
                                SamplingParams(max_new_tokens=96, seed=0))
    pairs = [(p, task.split_steps(c.text)) for p, group in zip(chosen, completions, strict=True) for c in group]
    problems_list, steps = [p for p, _ in pairs], [s for _, s in pairs]
    oracle = oracle_values(task)(problems_list, steps)
    if is_exact_prover(prover):
        q_mu = exact_prover_values(task, prover)(problems_list, steps)
    else:
        scores = ProcessVerifier.load(verifier_dir, prover).score([task.prompt(p) for p in problems_list], steps)
        q_mu = [np.asarray(s.q_mu, float) for s in scores]
    prover_values = [np.r_[q[:-1], o[-1]] for q, o in zip(q_mu, oracle, strict=True)]
    stepwise = np.concatenate([advantages(v) for v in prover_values])
    exact = np.concatenate([advantages(o) for o in oracle])
    dead = exact < -0.5
    states = np.concatenate([q[:-1] for q in q_mu])
    alive = np.concatenate([o[:-1] for o in oracle]) == 1
    print(f"{len(steps)} responses, {len(stepwise)} steps, {dead.sum()} dead-end steps ({dead.mean():.1%})")
    live_steps = ~dead & (np.concatenate([o[:-1] for o in oracle]) == 1)  # from a live state, and still live
    print(f"prover advantage: dead-end steps mean {stepwise[dead].mean():+.3f}; other steps mean "
          f"{stepwise[~dead].mean():+.3f}, sd {stepwise[~dead].std():.3f}; live-to-live steps: mean "
          f"{stepwise[live_steps].mean():+.3f}, sd {stepwise[live_steps].std():.3f}")
    print(f"AUC of the prover's values, live vs dead states: {roc_auc(states, alive):.3f}")
    print(f"AUC of the prover's advantages, other vs dead-end steps: {roc_auc(stepwise, ~dead):.3f}")


if __name__ == "__main__":
    main(*sys.argv[1:4], *map(int, sys.argv[4:6]))
