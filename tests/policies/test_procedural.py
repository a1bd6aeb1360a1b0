import math

import pytest

from pavlab.errors import PavlabError
from pavlab.policies.base import SamplingParams
from pavlab.policies.procedural import ProceduralProverPolicy
from pavlab.tasks.countdown import CountdownTask
from pavlab.tasks.planted import HORIZON, PlantedTask, exact_q_value, prover_probs, target_of

TASK = PlantedTask()
PROBLEM = TASK.problems("test", 1)[0]
PROMPT = TASK.prompt(PROBLEM)


def test_seeded_sampling_is_reproducible_and_meter_counts_steps():
    policy = ProceduralProverPolicy(TASK, gamma=5.0)
    params = SamplingParams(seed=3, stop="response")
    first = policy.sample([PROMPT, PROMPT], ["", "1\n2\n"], 4, params)
    again = ProceduralProverPolicy(TASK, gamma=5.0).sample([PROMPT, PROMPT], ["", "1\n2\n"], 4, params)
    assert [[c.text for c in group] for group in first] == [[c.text for c in group] for group in again]
    assert all(len(TASK.split_steps(c.text)) == HORIZON and c.finish_reason == "eos" for c in first[0])
    assert all(len(c.token_ids) == HORIZON - 2 for c in first[1])
    assert policy.meter.samples == 8
    assert policy.meter.generated_tokens == 4 * HORIZON + 4 * (HORIZON - 2)


def test_step_mode_gives_one_token_with_its_logprob():
    policy = ProceduralProverPolicy(TASK, gamma=10.0)
    target = target_of(PROBLEM)
    [group] = policy.sample([PROMPT], [""], 50, SamplingParams(seed=0, stop="step"))
    probs = prover_probs(target, 0, 10.0)
    for completion in group:
        [token] = completion.token_ids
        assert completion.text == f"{token}\n" and completion.finish_reason == "step"
        assert completion.logprobs[0] == pytest.approx(math.log(probs[token - 1]))
    last = policy.sample([PROMPT], ["1\n" * (HORIZON - 1)], 1, SamplingParams(seed=0, stop="step"))[0][0]
    assert last.finish_reason == "eos" and len(last.token_ids) == 1
    done = policy.sample([PROMPT], ["1\n" * HORIZON], 1, SamplingParams(seed=0, stop="step"))[0][0]
    assert done.text == "" and done.finished


def test_greedy_follows_the_target_and_max_new_tokens_truncates():
    policy = ProceduralProverPolicy(TASK, gamma=2.0)
    greedy = policy.sample([PROMPT], [""], 1, SamplingParams(temperature=0.0, seed=0))[0][0]
    assert TASK.is_correct(greedy.text, PROBLEM)
    short = policy.sample([PROMPT], [""], 1, SamplingParams(max_new_tokens=3, seed=0))[0][0]
    assert len(short.token_ids) == 3 and short.finish_reason == "length"


@pytest.mark.parametrize("prefix", [[], ["9", "9", "9"]])
def test_monte_carlo_success_rate_matches_the_exact_value(prefix):
    gamma = 8.0
    policy = ProceduralProverPolicy(TASK, gamma=gamma)
    n = 3000
    [group] = policy.sample([PROMPT], [TASK.prefix_text(prefix)], n, SamplingParams(seed=1))
    rate = sum(TASK.is_correct(TASK.prefix_text(prefix) + c.text, PROBLEM) for c in group) / n
    exact = exact_q_value(PROBLEM, prefix, gamma)
    assert abs(rate - exact) < 4 * math.sqrt(exact * (1 - exact) / n) + 1e-9


def test_responses_run_to_the_task_horizon():
    task = PlantedTask(30)
    policy = ProceduralProverPolicy(task, gamma=5.0)
    [group] = policy.sample([PROMPT], ["1\n" * 12], 3, SamplingParams(seed=0))
    assert all(len(c.token_ids) == 18 and c.finish_reason == "eos" for c in group)
    [[last]] = policy.sample([PROMPT], ["1\n" * 29], 1, SamplingParams(seed=0, stop="step"))
    assert last.finish_reason == "eos" and len(last.token_ids) == 1


def test_only_the_planted_task_and_positive_gamma():
    with pytest.raises(PavlabError):
        ProceduralProverPolicy(CountdownTask(), gamma=5.0)
    with pytest.raises(PavlabError):
        ProceduralProverPolicy(TASK, gamma=0.0)
