from __future__ import annotations

from collections import Counter

import pytest
import torch

from pavlab.verifiers.data import TrainingExample
from pavlab.verifiers.sampler import PositionSampler

# 18 low-value positions, 2 high-value ones: the usual skew of a weak policy's labels.
EXAMPLES = [TrainingExample([1, 2, 3], [0, 1, 2], [0.0, 0.1, 0.2]) for _ in range(6)] + [
    TrainingExample([1, 2], [0, 1], [0.0, 0.9]), TrainingExample([1, 2], [0, 1], [0.3, 1.0])]


def classes(sampler: PositionSampler, batches: int) -> Counter:
    counts: Counter = Counter()
    for _ in range(batches):
        counts.update(EXAMPLES[e].targets[p] >= 0.5 for e, p in sampler.draw())
    return counts


def test_balanced_sampler_draws_both_classes_equally() -> None:
    sampler = PositionSampler(EXAMPLES, batch_size=8, balanced=True, generator=torch.Generator().manual_seed(0))
    for _ in range(20):
        batch = sampler.draw()
        assert len(batch) == 8
        assert sum(EXAMPLES[e].targets[p] >= 0.5 for e, p in batch) == 4


def test_odd_batches_balance_on_average() -> None:
    sampler = PositionSampler(EXAMPLES, batch_size=5, balanced=True, generator=torch.Generator().manual_seed(0))
    counts = classes(sampler, 400)
    assert abs(counts[True] - counts[False]) < 100


def test_uniform_sampler_follows_the_label_skew() -> None:
    sampler = PositionSampler(EXAMPLES, batch_size=10, balanced=False, generator=torch.Generator().manual_seed(0))
    counts = classes(sampler, 100)
    assert 0.05 < counts[True] / 1000 < 0.15  # 2 of 20 positions are high-value


def test_one_class_only_falls_back_to_uniform_with_a_warning() -> None:
    low_only = EXAMPLES[:6]
    with pytest.warns(UserWarning, match="one class"):
        sampler = PositionSampler(low_only, batch_size=4, balanced=True, generator=torch.Generator())
    assert len(sampler.draw()) == 4
