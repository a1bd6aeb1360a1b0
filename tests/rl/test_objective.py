import copy

import numpy as np
import pytest
import torch

from pavlab.rl.objective import batch_loss, kl_per_token, leave_one_out_baselines
from pavlab.rl.rollouts import assign_rewards, build_rollouts
from pavlab.verifiers.model import ValueModel

TEXTS = ["ab\nok", "ab\ncd\nzz", "ok"]
OUTCOMES = np.array([1.0, 0.0, 1.0])
VALUES = [np.array([0.5, 0.7, 1.0]), np.array([0.5, 0.4, 0.1, 0.0]), np.array([0.5, 1.0])]


@pytest.fixture
def make_rollouts(make_tokenizer, make_completion, suffix_task):
    """(tokenizer, rollouts of TEXTS with rewards for `alpha`)."""
    def build(alpha: float):
        tokenizer = make_tokenizer()
        problem = suffix_task.problems("train", 1)[0]
        rollouts = build_rollouts(suffix_task, tokenizer, [problem], [[make_completion(tokenizer, t) for t in TEXTS]])
        assign_rewards(rollouts, OUTCOMES, VALUES, alpha, "advantage", "\n")
        return tokenizer, rollouts
    return build


def sequence_logprob(model, ids: list[int], prompt_length: int) -> torch.Tensor:
    """Sum of log pi over the response tokens of one unpadded sequence."""
    logits = model(input_ids=torch.tensor([ids])).logits[0, :-1]
    logp = torch.log_softmax(logits, -1).gather(-1, torch.tensor(ids[1:])[:, None]).squeeze(-1)
    return logp[prompt_length - 1:].sum()


def test_leave_one_out_baseline_excludes_the_sample_itself():
    baselines = leave_one_out_baselines(torch.tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]]))
    torch.testing.assert_close(baselines, torch.tensor([[1 / 3, 2 / 3, 2 / 3, 1 / 3], [1.0, 1.0, 1.0, 1.0]]))
    with pytest.raises(ValueError):
        leave_one_out_baselines(torch.ones(3, 1))


def test_alpha_zero_loss_is_plain_reinforce_on_the_outcome(make_rollouts, make_llama):
    tokenizer, rollouts = make_rollouts(alpha=0.0)
    policy = make_llama(len(tokenizer))
    n_tokens = sum(len(r.response_ids) for r in rollouts)
    parts = batch_loss(policy, copy.deepcopy(policy), None, rollouts, None, n_tokens, tokenizer.pad_token_id,
                       temperature=1.0, kl_coef=0.0, kl_estimator="k3")
    expected = -sum(outcome * sequence_logprob(policy, r.ids, len(r.prompt_ids))
                    for outcome, r in zip(OUTCOMES, rollouts, strict=True)) / n_tokens
    torch.testing.assert_close(parts.loss, expected)
    # a prover term changes the loss (the comparison above is not vacuous)
    _, dense = make_rollouts(alpha=2.0)
    dense_loss = batch_loss(policy, copy.deepcopy(policy), None, dense, None, n_tokens, tokenizer.pad_token_id,
                            temperature=1.0, kl_coef=0.0, kl_estimator="k3").loss
    assert abs(float(dense_loss.detach() - parts.loss.detach())) > 1e-3


def test_leave_one_out_loss_subtracts_the_other_samples_mean(make_rollouts, make_llama):
    tokenizer, rollouts = make_rollouts(alpha=0.0)
    policy = make_llama(len(tokenizer))
    n_tokens = sum(len(r.response_ids) for r in rollouts)
    baselines = leave_one_out_baselines(torch.tensor(OUTCOMES).view(1, -1)).flatten()
    loss = batch_loss(policy, copy.deepcopy(policy), None, rollouts, baselines, n_tokens, tokenizer.pad_token_id,
                      temperature=1.0, kl_coef=0.0, kl_estimator="k3").loss
    expected = -sum((outcome - float(b)) * sequence_logprob(policy, r.ids, len(r.prompt_ids))
                    for outcome, b, r in zip(OUTCOMES, baselines, rollouts, strict=True)) / n_tokens
    torch.testing.assert_close(loss, expected)


@pytest.mark.parametrize("estimator", ["k1", "k3"])
def test_kl_term_is_zero_at_the_start(estimator, make_rollouts, make_llama):
    tokenizer, rollouts = make_rollouts(alpha=1.0)
    policy = make_llama(len(tokenizer))
    n_tokens = sum(len(r.response_ids) for r in rollouts)
    parts = batch_loss(policy, copy.deepcopy(policy), None, rollouts, None, n_tokens, tokenizer.pad_token_id,
                       temperature=1.0, kl_coef=0.5, kl_estimator=estimator)
    without_kl = batch_loss(policy, copy.deepcopy(policy), None, rollouts, None, n_tokens, tokenizer.pad_token_id,
                            temperature=1.0, kl_coef=0.0, kl_estimator=estimator)
    assert float(parts.kl) == 0.0
    torch.testing.assert_close(parts.loss, without_kl.loss)
    # ...and positive once the policy has moved away from its reference
    moved = make_llama(len(tokenizer), seed=1)
    later = batch_loss(moved, policy, None, rollouts, None, n_tokens, tokenizer.pad_token_id, temperature=1.0,
                       kl_coef=0.5, kl_estimator="k3")
    assert float(later.kl) > 0.0


def test_execution_tokens_get_their_own_kl_weight_and_can_leave_the_policy_gradient(make_rollouts, make_llama):
    tokenizer, rollouts = make_rollouts(alpha=1.0)
    reference, moved = make_llama(len(tokenizer)), make_llama(len(tokenizer), seed=1)
    n_tokens = sum(len(r.response_ids) for r in rollouts)
    assert all(r.execution.any() and not r.execution.all() for r in rollouts[:2])

    def parts(**options):
        return batch_loss(moved, reference, None, rollouts, None, n_tokens, tokenizer.pad_token_id,
                          temperature=1.0, kl_estimator="k3", **options)

    def loss(**options) -> float:
        return float(parts(**options).loss.detach())

    # the execution weight replaces kl_coef on those tokens only
    assert loss(kl_coef=0.5, execution_kl_coef=0.5) == pytest.approx(loss(kl_coef=0.5))
    assert loss(kl_coef=0.0) < loss(kl_coef=0.0, execution_kl_coef=0.5) < loss(kl_coef=0.5)
    assert loss(kl_coef=0.5, execution_kl_coef=0.0) < loss(kl_coef=0.5)
    # without the execution tokens the policy gradient is the sum over the choice tokens alone
    everything = float(parts(kl_coef=0.0).policy_loss.detach())
    for rollout in rollouts:
        rollout.execution = ~rollout.execution
    others = float(parts(kl_coef=0.0, train_execution=False).policy_loss.detach())
    for rollout in rollouts:
        rollout.execution = ~rollout.execution
    choices = float(parts(kl_coef=0.0, train_execution=False).policy_loss.detach())
    assert choices != pytest.approx(everything)
    assert choices + others == pytest.approx(everything)


def test_entropy_bonus_subtracts_the_mean_token_entropy_and_raises_it(make_rollouts, make_llama):
    tokenizer, rollouts = make_rollouts(alpha=0.0)
    policy = make_llama(len(tokenizer))
    n_tokens = sum(len(r.response_ids) for r in rollouts)
    common = {"temperature": 1.0, "kl_coef": 0.0, "kl_estimator": "k3"}
    plain = batch_loss(policy, copy.deepcopy(policy), None, rollouts, None, n_tokens, tokenizer.pad_token_id, **common)
    bonus = batch_loss(policy, copy.deepcopy(policy), None, rollouts, None, n_tokens, tokenizer.pad_token_id,
                       entropy_coef=0.3, **common)
    torch.testing.assert_close(bonus.loss, plain.loss - 0.3 * bonus.entropy)
    # the bonus alone (no reward signal) is a gradient that raises the entropy
    for rollout in rollouts:
        rollout.rewards = [0.0] * len(rollout.rewards)
    reference = copy.deepcopy(policy)
    optimizer = torch.optim.SGD(policy.parameters(), lr=0.5)
    entropies = []
    for _ in range(3):
        parts = batch_loss(policy, reference, None, rollouts, None, n_tokens, tokenizer.pad_token_id,
                           entropy_coef=1.0, **common)
        optimizer.zero_grad()
        parts.loss.backward()
        optimizer.step()
        entropies.append(float(parts.entropy))
    assert entropies[-1] > entropies[0]


def test_kl_estimators():
    logp, ref = torch.tensor([-1.0, -2.0]), torch.tensor([-1.5, -1.0])
    torch.testing.assert_close(kl_per_token(logp, ref, "k1"), torch.tensor([0.5, -1.0]))
    d = ref - logp
    torch.testing.assert_close(kl_per_token(logp, ref, "k3"), torch.exp(d) - d - 1)
    assert bool((kl_per_token(logp, ref, "k3") >= 0).all())


def test_value_baseline_is_trained_towards_the_token_rewards(make_rollouts, make_llama):
    tokenizer, rollouts = make_rollouts(alpha=1.0)
    policy = make_llama(len(tokenizer))
    value_model = ValueModel.from_backbone(copy.deepcopy(policy))
    n_tokens = sum(len(r.response_ids) for r in rollouts)
    optimizer = torch.optim.Adam(value_model.parameters(), lr=1e-2)
    losses = []
    for _ in range(30):
        parts = batch_loss(policy, copy.deepcopy(policy), value_model, rollouts, None, n_tokens,
                           tokenizer.pad_token_id, temperature=1.0, kl_coef=0.0, kl_estimator="k3")
        optimizer.zero_grad()
        parts.value_loss.backward()
        optimizer.step()
        losses.append(float(parts.value_loss.detach()))
    assert losses[-1] < 0.5 * losses[0]  # shared prefixes with different returns leave some error


def test_leave_one_out_baseline_centres_the_dense_rewards_too(make_rollouts):
    """The baseline averages the other samples' mean token reward: the outcome when alpha = 0, and the
    prover advantages' (negative) mean too when alpha > 0."""
    from pavlab.rl.trainer import mean_token_rewards

    _, outcome_only = make_rollouts(alpha=0.0)
    torch.testing.assert_close(mean_token_rewards(outcome_only), torch.tensor(OUTCOMES, dtype=torch.float64))
    _, dense = make_rollouts(alpha=2.0)
    means = mean_token_rewards(dense)
    assert means[1] < OUTCOMES[1]  # a failed response's advantages sum to 0 - Q(s_0) < 0
    torch.testing.assert_close(means, torch.tensor([float(np.mean(r.rewards)) for r in dense], dtype=torch.float64))
    baselines = leave_one_out_baselines(means.view(1, -1)).flatten()
    torch.testing.assert_close(baselines[0], (means[1] + means[2]) / 2)


@pytest.mark.parametrize("baseline", ["value", "loo"])
def test_length_buckets_give_the_loss_and_gradient_of_one_padded_batch(make_rollouts, make_llama, monkeypatch,
                                                                       baseline):
    """`batch_loss` sums per-bucket losses (each / the batch's token count): the same numbers as one padded batch."""
    from pavlab.rl import objective

    tokenizer, rollouts = make_rollouts(alpha=1.0)
    policy = make_llama(len(tokenizer))
    reference = copy.deepcopy(policy)
    torch.nn.init.normal_(next(reference.parameters()), std=0.1)  # a nonzero KL term
    value_model = ValueModel.from_backbone(copy.deepcopy(policy)) if baseline == "value" else None
    baselines = None if value_model else torch.tensor([0.2, 0.5, 0.9])
    n_tokens = sum(len(r.response_ids) for r in rollouts)
    models = [policy] + ([value_model] if value_model else [])
    results = []
    for rows in (0, 2, 1):
        monkeypatch.setattr(objective, "BUCKET_ROWS", rows)
        for model in models:
            model.zero_grad(set_to_none=True)
        parts = batch_loss(policy, reference, value_model, rollouts, baselines, n_tokens, tokenizer.pad_token_id,
                           temperature=1.0, kl_coef=0.1, kl_estimator="k3")
        parts.loss.backward()
        results.append((parts, [p.grad.clone() for model in models for p in model.parameters()
                                if p.grad is not None]))
    (whole, whole_grads), *bucketed = results
    for parts, grads in bucketed:
        for name in ("loss", "policy_loss", "value_loss", "kl", "entropy", "reward"):
            torch.testing.assert_close(getattr(parts, name), getattr(whole, name))
        assert len(grads) == len(whole_grads)
        for grad, expected in zip(grads, whole_grads, strict=True):
            torch.testing.assert_close(grad, expected, rtol=1e-4, atol=1e-6)
    assert objective.length_buckets([5, 3, 4, 3], 2) == [[1, 3], [2, 0]]
    assert objective.length_buckets([5, 3, 4], 0) == [[0, 1, 2]]
