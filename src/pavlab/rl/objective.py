"""The policy-gradient objective: token log-probabilities, baselines, the KL penalty and the losses.

REINFORCE with dense rewards: every response token t carries a reward r_t (its step's effective
reward, see `rewards.py`) and the loss is `-sum_t (r_t - b_t) * log pi(y_t | y_<t) / T` over the T
response tokens of the batch (a token-mean, so long and short responses weigh per token).

KL penalty to the frozen initial policy, two estimators of KL(pi || pi_ref) per sampled token
(with `d = log pi_ref(y_t) - log pi(y_t)`):
- `k1 = -d`, subtracted from the reward (`r_t - beta * k1`, treated as a constant): the
  PPO / InstructGPT shaping, whose gradient flows through the score function like any reward;
- `k3 = exp(d) - d - 1` (non-negative, unbiased, low variance), added to the loss and
  differentiated directly, as in GRPO.
Both are exactly zero while the policy equals its reference.

An optional entropy bonus (`- entropy_coef * mean token entropy` in the loss) keeps a policy from
collapsing onto a local optimum before the dense reward has shown it the next step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Literal

import torch
from transformers import PreTrainedModel

from pavlab.rl.rollouts import Rollout
from pavlab.verifiers.model import ValueModel
from pavlab.verifiers.scoring import right_pad

KLEstimator = Literal["k1", "k3"]


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """log softmax(logits)[target] per position; logits [B, T, V], targets [B, T] -> [B, T]."""
    return torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


def token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of the next-token distribution per position, [B, T, V] -> [B, T]."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -(logp.exp() * logp).sum(-1)


def kl_per_token(logprobs: torch.Tensor, ref_logprobs: torch.Tensor, estimator: KLEstimator) -> torch.Tensor:
    """Per-token estimate of KL(pi || pi_ref) from the sampled tokens' log-probabilities (see module doc)."""
    log_ratio = ref_logprobs - logprobs
    if estimator == "k1":
        return -log_ratio
    return torch.exp(log_ratio) - log_ratio - 1.0


def leave_one_out_baselines(outcomes: torch.Tensor) -> torch.Tensor:
    """For [problems, G] outcome returns, each sample's baseline: the mean return of the other G-1 samples.

    Unbiased because a sample's baseline does not depend on its own action (RLOO).
    """
    group = outcomes.shape[-1]
    if group < 2:
        raise ValueError("a leave-one-out baseline needs at least 2 samples per problem")
    return (outcomes.sum(-1, keepdim=True) - outcomes) / (group - 1)


def policy_gradient_loss(logprobs: torch.Tensor, advantages: torch.Tensor, mask: torch.Tensor,
                         n_tokens: int) -> torch.Tensor:
    """-sum(advantage * log pi) over masked tokens / n_tokens (advantages are constants)."""
    return -(advantages.detach() * logprobs * mask).sum() / n_tokens


def value_loss(values: torch.Tensor, returns: torch.Tensor, mask: torch.Tensor, n_tokens: int) -> torch.Tensor:
    """Squared error of the token-level value baseline to each token's return, / n_tokens (times 1/2)."""
    return 0.5 * (((values.float() - returns) ** 2) * mask).sum() / n_tokens


@dataclass
class LossParts:
    """The loss of one micro-batch and its diagnostics, each already divided by the batch's token count."""

    loss: torch.Tensor
    policy_loss: torch.Tensor
    value_loss: torch.Tensor
    kl: torch.Tensor
    entropy: torch.Tensor
    reward: torch.Tensor


def response_layout(rollouts: Sequence[Rollout], pad_id: int, device: torch.device
                    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Right-padded ids and attention mask, plus the response-token mask, rewards and execution-token mask
    (`rewards.execution_tokens`) aligned with the next-token targets `ids[:, 1:]` (position j predicts token j+1)."""
    ids, attention = right_pad([r.ids for r in rollouts], pad_id, device)
    mask = torch.zeros(ids.shape[0], ids.shape[1] - 1, device=device)
    rewards, execution = torch.zeros_like(mask), torch.zeros_like(mask)
    for row, rollout in enumerate(rollouts):
        start = len(rollout.prompt_ids) - 1
        end = start + len(rollout.response_ids)
        mask[row, start:end] = 1.0
        rewards[row, start:end] = torch.as_tensor(rollout.rewards, dtype=torch.float32, device=device)
        if len(rollout.execution):
            execution[row, start:end] = torch.as_tensor(rollout.execution, dtype=torch.float32, device=device)
    return ids, attention, mask, rewards, execution


BUCKET_ROWS = 16  # rows per length bucket in `batch_loss`; 0 = one batch padded to its longest sequence


def length_buckets(lengths: Sequence[int], rows: int) -> list[list[int]]:
    """Indices ordered by length in groups of `rows`, so padding stays small; `rows` 0: all, in their order."""
    if rows == 0:
        return [list(range(len(lengths)))]
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[start:start + rows] for start in range(0, len(order), rows)]


def batch_loss(policy: PreTrainedModel, reference: PreTrainedModel, value_model: ValueModel | None,
               rollouts: Sequence[Rollout], baselines: torch.Tensor | None, n_tokens: int, pad_id: int, *,
               temperature: float, kl_coef: float, kl_estimator: KLEstimator,
               entropy_coef: float = 0.0, execution_kl_coef: float | None = None,
               train_execution: bool = True) -> LossParts:
    """REINFORCE loss of `rollouts` (rewards set) with a value or per-response baseline and the KL penalty.

    On the tokens that carry a step's choice out (`Rollout.execution`) the KL weighs `execution_kl_coef`
    (None: `kl_coef`), and `train_execution=False` leaves them out of the policy gradient.

    `baselines` holds one number per rollout (leave-one-out) or None; with `value_model` the
    baseline is its per-token prediction instead, trained by squared loss to the per-token return.
    Every part is a sum over tokens / `n_tokens`, so it is computed per bucket of similar lengths
    (`BUCKET_ROWS`) and summed: the same loss and gradient (up to float summation order) without
    the forward and backward work on padding that one batch padded to its longest response costs.
    """
    parts = [_bucket_loss(policy, reference, value_model, [rollouts[i] for i in bucket],
                          None if baselines is None else baselines[bucket], n_tokens, pad_id, temperature=temperature,
                          kl_coef=kl_coef, kl_estimator=kl_estimator, entropy_coef=entropy_coef,
                          execution_kl_coef=execution_kl_coef, train_execution=train_execution)
             for bucket in length_buckets([len(r.ids) for r in rollouts], BUCKET_ROWS)]
    return LossParts(*(sum((getattr(p, f.name) for p in parts[1:]), getattr(parts[0], f.name))
                       for f in fields(LossParts)))


def _bucket_loss(policy: PreTrainedModel, reference: PreTrainedModel, value_model: ValueModel | None,
                 rollouts: Sequence[Rollout], baselines: torch.Tensor | None, n_tokens: int, pad_id: int, *,
                 temperature: float, kl_coef: float, kl_estimator: KLEstimator, entropy_coef: float,
                 execution_kl_coef: float | None, train_execution: bool) -> LossParts:
    """`batch_loss` of rollouts read as one right-padded batch."""
    device = next(policy.parameters()).device
    ids, attention, mask, rewards, execution = response_layout(rollouts, pad_id, device)
    kl_coefs = kl_coef + (0.0 if execution_kl_coef is None else execution_kl_coef - kl_coef) * execution
    targets = ids[:, 1:]
    logits = policy(input_ids=ids, attention_mask=attention).logits[:, :-1] / temperature
    logprobs = token_logprobs(logits, targets)
    with torch.no_grad():
        ref_logits = reference(input_ids=ids, attention_mask=attention).logits[:, :-1] / temperature
        ref_logprobs = token_logprobs(ref_logits, targets)
    with torch.set_grad_enabled(entropy_coef > 0 and torch.is_grad_enabled()):
        entropy = (token_entropy(logits) * mask).sum() / n_tokens
    kl = kl_per_token(logprobs, ref_logprobs, kl_estimator)
    kl_mean = (kl * mask).sum() / n_tokens
    returns = rewards - kl_coefs * kl.detach() if kl_estimator == "k1" else rewards
    zero = torch.zeros((), device=device)
    v_loss, baseline = zero, zero
    if value_model is not None:
        values = value_model(ids, attention)[:, :-1]
        v_loss = value_loss(values, returns, mask, n_tokens)
        baseline = values.detach().float()
    elif baselines is not None:
        baseline = baselines.to(device).float()[:, None]
    trained = mask if train_execution else mask * (1.0 - execution)
    pg_loss = policy_gradient_loss(logprobs, returns - baseline, trained, n_tokens)
    kl_loss = (kl_coefs * kl * mask).sum() / n_tokens if kl_estimator == "k3" else zero
    loss = pg_loss + v_loss + kl_loss - entropy_coef * entropy
    return LossParts(loss, pg_loss, v_loss, kl_mean.detach(), entropy.detach(), ((rewards * mask).sum() / n_tokens))
