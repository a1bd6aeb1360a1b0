import numpy as np
import pytest

from pavlab.policies.testbed_tokenizer import build_number_tokenizer
from pavlab.policies.tokenization import encode_response, token_step_indices
from pavlab.policies.tokenization import response_step_ends as step_end_chars
from pavlab.rl.rewards import execution_tokens, response_token_rewards, token_rewards
from pavlab.tasks.countdown import CountdownTask
from pavlab.verifiers.progress import effective_rewards as step_rewards


def test_effective_step_rewards_use_advantages_or_values():
    values = [0.2, 0.5, 0.4, 1.0]
    np.testing.assert_allclose(step_rewards(1.0, values, 2.0), [1.6, 0.8, 2.2])
    np.testing.assert_allclose(step_rewards(0.0, values, 2.0, kind="q_plus_q_mu"), [1.0, 0.8, 2.0])
    np.testing.assert_allclose(step_rewards(1.0, values, 0.0), [1.0, 1.0, 1.0])


def test_step_ends_match_split_steps():
    text = "ab\n\n  \ncd\nef"
    ends = step_end_chars(text, "\n")
    assert len(ends) == len(CountdownTask().split_steps(text)) == 3
    assert ends == [3, 10, 12]


def test_per_token_rewards_follow_the_steps_hand_built():
    tokenizer = build_number_tokenizer(30, ["+", "-", "*", "="])
    text = "3 + 4 = 7\n7 * 2 = 14\n\n14 - 1 = 13"
    ids, offsets = encode_response(tokenizer, text)
    pieces = [tokenizer.decode([i]) for i in ids]
    assert pieces == ["3", " +", " 4", " =", " 7", "\n", "7", " *", " 2", " =", " 14", "\n", "\n",
                      "14", " -", " 1", " =", " 13"]
    offsets = offsets + [(len(text), len(text))]  # EOS
    rewards = response_token_rewards(text, offsets, "\n", outcome=1.0, prover_values=[0.2, 0.5, 0.4, 1.0],
                                     alpha=2.0)
    expected = [1.6] * 6 + [0.8] * 6 + [2.2] * 7  # the blank line belongs to step 3, EOS to the last step
    np.testing.assert_allclose(rewards, expected)


def test_first_token_credit_puts_the_prover_term_on_each_steps_first_written_token_only():
    tokenizer = build_number_tokenizer(30, ["+", "-", "*", "="])
    text = "3 + 4 = 7\n7 * 2 = 14\n\n14 - 1 = 13"
    ids, offsets = encode_response(tokenizer, text)
    offsets = offsets + [(len(text), len(text))]  # EOS
    rewards = response_token_rewards(text, offsets, "\n", outcome=1.0, prover_values=[0.2, 0.5, 0.4, 1.0],
                                     alpha=2.0, credit="first_token")
    # "3", "7" and "14" (not the blank line before it) carry 1 + 2 * A; every other token only the outcome
    expected = [1.6] + [1.0] * 5 + [0.8] + [1.0] * 6 + [2.2] + [1.0] * 5
    np.testing.assert_allclose(rewards, expected)
    per_step = response_token_rewards(text, offsets, "\n", 1.0, [0.2, 0.5, 0.4, 1.0], 2.0)
    # the prover terms are the same, carried by 3 tokens instead of 19
    np.testing.assert_allclose((rewards - 1.0).sum(), 0.6 - 0.2 + 1.2)
    assert (per_step != 1.0).sum() == 19 and (rewards != 1.0).sum() == 3


def test_execution_tokens_are_every_token_of_a_step_but_its_first_written_one():
    tokenizer = build_number_tokenizer(30, ["+", "-", "*", "="])
    text = "3 + 4 = 7\n7 * 2 = 14\n\n14 - 1 = 13"
    ids, offsets = encode_response(tokenizer, text)
    offsets = offsets + [(len(text), len(text))]  # EOS: carries the last step out
    # "3", "7" and "14" choose (the blank line before "14" does not); the rest, EOS included, execute
    expected = [False] + [True] * 5 + [False] + [True] * 6 + [False] + [True] * 5
    assert execution_tokens(text, offsets, "\n") == expected
    assert execution_tokens("", [(0, 0)], "\n") == [False]  # a response without steps executes nothing


def test_merged_separator_token_stays_with_its_step(make_tokenizer):
    tokenizer = make_tokenizer(merged=(".\n",))
    text = "ab.\ncd.\n"
    ids, offsets = encode_response(tokenizer, text)
    assert [tokenizer.decode([i]) for i in ids] == ["a", "b", ".\n", "c", "d", ".\n"]
    assert token_step_indices(offsets, step_end_chars(text, "\n")) == [0, 0, 0, 1, 1, 1]


def test_outcome_only_and_stepless_responses():
    offsets = [(0, 1), (1, 2)]
    np.testing.assert_allclose(response_token_rewards("ab", offsets, "\n", 0.0, None, 3.0), [0.0, 0.0])
    np.testing.assert_allclose(response_token_rewards(" \n", offsets, "\n", 1.0, [0.3], 3.0), [1.0, 1.0])
    np.testing.assert_allclose(token_rewards([5.0], [-1, 0], outcome=2.0), [2.0, 5.0])


def test_a_finished_empty_response_pays_the_shortfall_like_any_failed_response():
    """Saying nothing must not be the one failed response without a negative advantage (an RL run collapsed to
    empty responses that way): its ending moves the state from the prompt (Q^mu 0.8) to its outcome (0)."""
    offsets = [(0, 0)]  # the EOS token alone
    empty = response_token_rewards("", offsets, "\n", 0.0, [0.8], 3.0, terminal_value=0.0)
    np.testing.assert_allclose(empty, [3.0 * (0.0 - 0.8)])
    # a failed two-step response: its step rewards (one token each, then EOS with the last) sum to the same -2.4
    failed = response_token_rewards("a\nb\n", [(0, 2), (2, 4), (4, 4)], "\n", 0.0, [0.8, 0.5, 0.9], 3.0,
                                    terminal_value=0.0)
    np.testing.assert_allclose(failed, [3.0 * (0.5 - 0.8), 3.0 * (0.0 - 0.5), 3.0 * (0.0 - 0.5)])
    assert np.isclose(failed[0] + failed[1], empty[0])
    # the advantages of any finished response sum to alpha * (Rex - Q^mu(s_0)): the empty one's single step too
    np.testing.assert_allclose(response_token_rewards("", offsets, "\n", 1.0, [0.8], 3.0, terminal_value=1.0),
                               [1.0 + 3.0 * 0.2])
    values = response_token_rewards("", offsets, "\n", 0.0, [0.8], 3.0, kind="q_plus_q_mu", terminal_value=0.0)
    np.testing.assert_allclose(values, [0.0])


def test_wrong_number_of_prover_values_is_an_error():
    with pytest.raises(ValueError, match="2 steps need 3 prover values"):
        response_token_rewards("a\nb", [(0, 1), (1, 2), (2, 3)], "\n", 1.0, [0.1, 0.2], 1.0)
