import random

import numpy as np
import pytest

from pavlab.io import read_jsonl
from pavlab.labeling.format import label_shards
from pavlab.labeling.mc import PrefixRequest, estimate_q_values
from pavlab.labeling.run import LabelConfig, run_labeling
from pavlab.labeling.seeding import Seed, first_pit_seeds, label_all_prefixes
from pavlab.policies.base import Completion, PolicyBackend, SamplingParams
from pavlab.policies.procedural import ProceduralProverPolicy
from pavlab.tasks.countdown import CountdownTask, after_move, apply_steps, valid_moves
from pavlab.tasks.planted import PlantedTask, exact_q_values


class RandomCountdownSolver(PolicyBackend):
    """A test double: plays uniformly random valid moves, stops when the target is hit or numbers run out."""

    def __init__(self, task: CountdownTask) -> None:
        super().__init__(task.step_separator)
        self.task = task
        self.by_prompt = {task.prompt(p): p for split in ("train", "test") for p in task.problems(split, 50, seed=0)}

    def sample(self, prompts, prefixes, n, params):
        rng = random.Random(params.seed)
        out = []
        for prompt, prefix in zip(prompts, prefixes, strict=True):
            problem = self.by_prompt[prompt]
            state = apply_steps(problem.meta["numbers"], self.task.split_steps(prefix))
            group = []
            for _ in range(n):
                numbers = state[0] if state else ()
                lines = []
                while len(numbers) > 1:
                    move = rng.choice(list(valid_moves(numbers)))
                    numbers = after_move(numbers, move)
                    lines.append(f"{move.a} {move.op} {move.b} = {move.result}")
                    if move.result == problem.meta["target"] or params.stop == "step":
                        break
                text = "".join(line + "\n" for line in lines)
                group.append(Completion(text, [], [], "eos"))
                self.meter.samples += 1
            out.append(group)
        return out


def test_planted_mc_labels_match_exact_prover_values():
    task = PlantedTask()
    prover = ProceduralProverPolicy(task, gamma=10)
    problems = task.problems("train", 3, seed=0)
    seeds_text = prover.sample([task.prompt(p) for p in problems], [""] * 3, 1, SamplingParams(seed=1))
    requests = [PrefixRequest(p, tuple(task.split_steps(g[0].text)[:h]))
                for p, g in zip(problems, seeds_text, strict=True) for h in range(10)]
    estimates = estimate_q_values(task, prover, requests, 200, SamplingParams(seed=2))
    errors = [abs(estimates[r].q_hat - exact_q_values(r.problem, list(r.steps), 10)[-1]) for r in requests]
    assert np.mean(errors) < 0.05
    assert max(errors) < 0.15


def test_duplicate_prefixes_are_labeled_once():
    task = PlantedTask()
    prover = ProceduralProverPolicy(task, gamma=10)
    problem = task.problems("train", 1, seed=0)[0]
    request = PrefixRequest(problem, ())
    estimate_q_values(task, prover, [request, request, request], 8, SamplingParams(seed=0))
    assert prover.meter.samples == 8


def _random_seeds(task, policy, n, params):
    problems = task.problems("train", n, seed=0)
    groups = policy.sample([task.prompt(p) for p in problems], [""] * n, 1, params)
    return [Seed(p, task.split_steps(g[0].text), task.is_correct(g[0].text, p))
            for p, g in zip(problems, groups, strict=True)]


def test_countdown_dead_prefixes_get_zero():
    task = CountdownTask()
    policy = RandomCountdownSolver(task)
    params = SamplingParams(seed=3)
    seeds = _random_seeds(task, policy, 20, params)
    label_all_prefixes(task, policy, seeds, 16, params)
    alive_values = []
    for seed in seeds:
        for h, label in enumerate(seed.labels):
            if not task.prefix_alive(seed.problem, seed.steps[:h]):
                assert label.q_hat == 0.0
            else:
                alive_values.append(label.q_hat)
        assert seed.labels[-1].q_hat == float(seed.correct)
    assert max(alive_values) > 0


def test_first_pit_labels_stop_at_the_pit():
    task = CountdownTask()
    policy = RandomCountdownSolver(task)
    params = SamplingParams(seed=5)
    seeds = _random_seeds(task, policy, 10, params)
    label_all_prefixes(task, policy, seeds, 16, params)
    pits = first_pit_seeds(task, policy, policy, seeds, 2, 0.05, 16, params)
    assert pits
    for pit in pits:
        assert not pit.correct and pit.origin == "first_pit"
        fresh = pit.labels[pit.branch:-1]
        labeled = [q for q in fresh if q is not None]
        assert labeled and all(q.successes > 0 for q in labeled[:-1])
        assert all(q is None for q in fresh[len(labeled):])  # nothing labeled after the pit
        if len(labeled) < len(fresh):  # labels stopped early: the last labeled prefix is a pit
            assert labeled[-1].successes == 0


def _planted_config(out, **extra):
    fields = {"task": "planted", "policy": "mu:5", "rollout_policy": "mu:10", "problems": 6, "n_cov": 2, "n_mc": 4,
              "chunk_problems": 2, "out": out}
    return LabelConfig(**(fields | extra))


def test_resume_after_interruption_gives_identical_rows(tmp_path, monkeypatch):
    run_labeling(_planted_config(tmp_path / "full"))
    full = list(label_shards(tmp_path / "full").rows())
    assert len(full) == 12

    shards_cls = type(label_shards(tmp_path / "x"))
    original = shards_cls.write
    calls = {"n": 0}

    def crash_on_second(self, index, rows):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        original(self, index, rows)

    monkeypatch.setattr(shards_cls, "write", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        run_labeling(_planted_config(tmp_path / "resumed"))
    monkeypatch.setattr(shards_cls, "write", original)
    assert len(list(label_shards(tmp_path / "resumed").rows())) == 4
    run_labeling(_planted_config(tmp_path / "resumed"))
    assert list(label_shards(tmp_path / "resumed").rows()) == full


def test_resume_refuses_changed_config(tmp_path):
    from pavlab.errors import PavlabError

    run_labeling(_planted_config(tmp_path / "run", problems=2))
    with pytest.raises(PavlabError, match="n_mc: 4 -> 8"):
        run_labeling(_planted_config(tmp_path / "run", problems=2).model_copy(update={"n_mc": 8}))


def test_label_rows_have_the_documented_schema(tmp_path):
    run_labeling(_planted_config(tmp_path / "run", problems=2))
    rows = read_jsonl(next((tmp_path / "run" / "labels").glob("shard-*.jsonl")))
    for row in rows:
        assert len(row["q_hat"]) == len(row["steps"]) + 1
        assert row["policy"] == "mu:10" and row["seed_policy"] == "mu:5"
        assert all(s / n == q for q, s, n in zip(row["q_hat"], row["n_success"], row["n_rollouts"], strict=True))
