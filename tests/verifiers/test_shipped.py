"""The shipped learned PAV: it loads as a `model:` prover, ranks the shipped start's states, copies by command."""

from __future__ import annotations

import json

import numpy as np
import torch

from pavlab.policies.base import SamplingParams
from pavlab.policies.registry import build_policy
from pavlab.policies.start_task import start_task
from pavlab.policies.testbed import shipped_testbed
from pavlab.rl.scoring import exact_prefix_value
from pavlab.tasks.registry import TaskConfig, get_task
from pavlab.verifiers.calibration import roc_auc
from pavlab.verifiers.scoring import score_prefixes
from pavlab.verifiers.shipped import PAV_RECORD, shipped_pav
from pavlab.verifiers.third_party import load_value_model


def test_the_shipped_pav_ranks_live_above_dead_states_of_the_shipped_start() -> None:
    """What RL reads from it: on the start's own samples its values separate states the oracle calls live
    from dead ones (AUC 0.90 on 400 responses, RESULTS.md 5b) and follow solver:0.3's exact values."""
    torch.set_num_threads(1)
    start = shipped_testbed("subset_sum_habit")
    task = get_task(start_task(TaskConfig(name="subset_sum"), start))
    problems = task.problems("test", 40)
    groups = build_policy(str(start), task).sample([task.prompt(p) for p in problems], [""] * len(problems), 2,
                                                   SamplingParams(max_new_tokens=96, seed=0))
    pairs = [(p, task.split_steps(c.text)) for p, group in zip(problems, groups, strict=True) for c in group]
    model, tokenizer = load_value_model(shipped_pav())
    values = score_prefixes(model, tokenizer, [task.prompt(p) for p, _ in pairs], [s for _, s in pairs])
    alive, solver = exact_prefix_value(task, "oracle"), exact_prefix_value(task, "solver:0.3")
    prefixes = [(p, steps[:h]) for p, steps in pairs for h in range(len(steps))]  # every proper prefix
    predicted = np.concatenate([v[:-1] for v in values])
    live = np.array([alive(p, s) for p, s in prefixes]) == 1
    assert 0 < live.sum() < len(live)
    assert roc_auc(predicted, live) > 0.8
    assert np.corrcoef(predicted, [solver(p, s) for p, s in prefixes])[0, 1] > 0.6


def test_the_shipped_pav_copies_by_command_with_its_record(tmp_path, run_cli) -> None:
    code, out, _ = run_cli("verifier", "shipped", "--out", str(tmp_path / "pav"))
    assert code == 0 and f"--prover model:{tmp_path / 'pav'}" in out
    record = json.loads((tmp_path / "pav" / PAV_RECORD).read_text())
    assert record["prover"] == "solver:0.3" and record["start_policy"].startswith("subset_sum_habit")
    assert load_value_model(tmp_path / "pav")[0].info.kind == "prm"
    code, _, err = run_cli("verifier", "shipped", "--name", "chess", "--out", str(tmp_path / "q"))
    assert code == 2 and "no shipped PAV 'chess' (shipped: subset_sum_habit_pav)" in err
    assert len(err.strip().splitlines()) == 1
