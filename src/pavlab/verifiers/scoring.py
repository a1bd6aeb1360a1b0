"""Batched inference: the value of every step prefix of many responses, one forward pass per response.

Scoring H steps with one pass per prefix costs about H/2 times the tokens of one pass over the
whole response; a causal value model gives the same numbers from a single pass (see
`benchmarks/scoring.py`). Sequences are grouped by length so right padding stays small.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from pavlab.policies.base import ComputeMeter
from pavlab.verifiers.model import ValueModel
from pavlab.verifiers.positions import build_many_scoring_inputs

if TYPE_CHECKING:
    from pavlab.verifiers.prefix_cache import PrefixKVCache


def pad_id_of(tokenizer: Any) -> int:
    """The id used for right padding; its value never matters because padded tokens are masked."""
    for candidate in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if candidate is not None:
            return int(candidate)
    return 0


def right_pad(sequences: Sequence[Sequence[int]], pad_id: int,
              device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Stack id lists into [batch, longest] ids and an attention mask, padding on the right."""
    longest = max(len(seq) for seq in sequences)
    ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), longest), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, :len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[row, :len(seq)] = 1
    return ids.to(device), mask.to(device)


def score_sequences(model: ValueModel, sequences: Sequence[Sequence[int]], positions: Sequence[Sequence[int]],
                    pad_id: int, batch_size: int = 32, meter: ComputeMeter | None = None) -> list[np.ndarray]:
    """Values (sigmoid of the head's logits) at `positions[i]` of `sequences[i]`; one pass per sequence.

    The meter is charged one verifier pass and len(sequence) verifier tokens per sequence.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    device = next(model.parameters()).device
    order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))
    results: list[np.ndarray] = [np.empty(0)] * len(sequences)
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            ids, mask = right_pad([sequences[i] for i in chunk], pad_id, device)
            values = torch.sigmoid(model(ids, mask).float()).cpu().numpy().astype(np.float64)
            for row, index in enumerate(chunk):
                results[index] = values[row, list(positions[index])]
            if meter is not None:
                meter.verifier_passes += len(chunk)
                meter.verifier_tokens += int(mask.sum())
    model.train(was_training)
    return results


def scoring_inputs(model: ValueModel, tokenizer: Any, prompts: Sequence[str], steps_lists: Sequence[Sequence[str]],
                   separator: str = "\n") -> list[tuple[list[int], list[int]]]:
    """Token ids and scoring positions of every response, as `model` reads them."""
    if len(prompts) != len(steps_lists):
        raise ValueError(f"{len(prompts)} prompts but {len(steps_lists)} responses")
    # A third-party PRM (verifiers/third_party.py) places its own step markers; pavlab's verifiers use the separator.
    build = getattr(model, "scoring_inputs", None)
    if build is not None:
        return [build(prompt, steps) for prompt, steps in zip(prompts, steps_lists, strict=True)]
    # each distinct prompt is encoded once, the responses in one batch (beam search: ~B*C per prompt per call)
    return build_many_scoring_inputs(tokenizer, prompts, steps_lists, separator)


def score_prefixes(model: ValueModel, tokenizer: Any, prompts: Sequence[str], steps_lists: Sequence[Sequence[str]],
                   separator: str = "\n", batch_size: int = 32, meter: ComputeMeter | None = None,
                   cache: PrefixKVCache | None = None) -> list[np.ndarray]:
    """For each response, its predicted values at all H+1 states (index 0: bare prompt, h: after step h).

    With a `cache` (value models, and third-party PRMs, which have a `backbone` and `value_head` too), a
    response that extends one of the previous call's by a step is read from where that one ended (see
    `verifiers/prefix_cache.py`).
    """
    return score_inputs(model, tokenizer, scoring_inputs(model, tokenizer, prompts, steps_lists, separator),
                        batch_size, meter, cache)


def score_inputs(model: ValueModel, tokenizer: Any, inputs: Sequence[tuple[list[int], list[int]]],
                 batch_size: int = 32, meter: ComputeMeter | None = None,
                 cache: PrefixKVCache | None = None) -> list[np.ndarray]:
    """`score_prefixes` of responses already turned into (ids, positions) by `scoring_inputs`."""
    sequences, positions = [ids for ids, _ in inputs], [pos for _, pos in inputs]
    if cache is not None and hasattr(model, "value_head"):  # a value model, or a third-party PRM read alike
        return cache.score(model, sequences, positions, pad_id_of(tokenizer), batch_size, meter)
    return score_sequences(model, sequences, positions, pad_id_of(tokenizer), batch_size=batch_size, meter=meter)
