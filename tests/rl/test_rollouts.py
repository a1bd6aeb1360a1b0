import numpy as np
import pytest
from pydantic import ValidationError

from pavlab.policies.base import Completion
from pavlab.policies.testbed_tokenizer import build_number_tokenizer
from pavlab.rl.config import RLConfig
from pavlab.rl.rollouts import assign_rewards, build_rollouts
from pavlab.tasks.planted import VOCAB_SIZE, PlantedTask


def test_a_non_canonical_sample_is_trained_on_its_sampled_ids_with_step_rewards():
    """"10" sampled as "1" "0": the rollout keeps those ids (the gradient must reach what was sampled)."""
    task, tokenizer = PlantedTask(), build_number_tokenizer(VOCAB_SIZE, [])
    problem = task.problems("train", 1)[0]
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in ("1", "0", "3", "\n")}
    sampled = [ids["3"], ids["\n"], ids["1"], ids["0"], ids["\n"], tokenizer.eos_token_id]
    completion = Completion(text="3\n10\n", token_ids=sampled, logprobs=[0.0] * 6, finish_reason="eos")
    canonical = Completion(text="3\n10\n", token_ids=[*tokenizer("3\n10\n", add_special_tokens=False)["input_ids"],
                                                      tokenizer.eos_token_id], logprobs=[0.0] * 5,
                           finish_reason="eos")
    odd, plain = build_rollouts(task, tokenizer, [problem], [[completion, canonical]])
    assert odd.retokenized and odd.response_ids == sampled and odd.steps == ["3", "10"]
    assert not plain.retokenized and plain.response_ids == canonical.token_ids
    assign_rewards([odd, plain], np.zeros(2), [np.array([0.1, 0.3, 0.0])] * 2, 1.0, "advantage", "\n")
    np.testing.assert_allclose(odd.rewards, [0.2, 0.2, -0.3, -0.3, -0.3, -0.3])
    np.testing.assert_allclose(plain.rewards, [0.2, 0.2, -0.3, -0.3, -0.3])
    # first-token credit: "1" of the sampled "1" "0" makes step 2's choice and carries its term alone
    assign_rewards([odd], np.zeros(1), [np.array([0.1, 0.3, 0.0])], 1.0, "advantage", "\n", credit="first_token")
    np.testing.assert_allclose(odd.rewards, [0.2, 0.0, -0.3, 0.0, 0.0, 0.0])


def test_step_credit_is_a_checked_rl_option(tmp_path):
    base = {"task": {"name": "planted"}, "policy": "p", "prover": "mu:10", "alpha": 1.0, "out": tmp_path}
    assert RLConfig(**base).step_credit == "step"
    assert RLConfig(**base, step_credit="first_token").step_credit == "first_token"
    with pytest.raises(ValidationError):
        RLConfig(**base, step_credit="last_token")


def test_execution_options_are_checked_rl_options(tmp_path):
    base = {"task": {"name": "planted"}, "policy": "p", "prover": "mu:10", "alpha": 1.0, "out": tmp_path}
    assert RLConfig(**base).execution_kl_coef is None
    assert RLConfig(**base, execution_kl_coef=0.1).execution_kl_coef == 0.1
    assert not RLConfig(**base, train_execution=False).train_execution
    with pytest.raises(ValidationError):
        RLConfig(**base, execution_kl_coef=-0.1)
