"""Which labeled positions go into a training batch.

Most prefixes of a weak policy's responses have low Q, so uniform batches teach a verifier to
predict "low" everywhere. The paper balances batches between Q_hat < 0.5 and Q_hat >= 0.5;
`balanced=True` draws the two classes equally (with replacement), `False` draws uniformly.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch

from pavlab.verifiers.data import TrainingExample

HIGH_THRESHOLD = 0.5


class PositionSampler:
    """Draws batches of (example index, labeled-position index) pairs from a seeded generator."""

    def __init__(self, examples: Sequence[TrainingExample], batch_size: int, balanced: bool,
                 generator: torch.Generator) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.pairs = [(e, p) for e, example in enumerate(examples) for p in range(len(example.targets))]
        if not self.pairs:
            raise ValueError("no labeled positions to sample from")
        targets = torch.tensor([examples[e].targets[p] for e, p in self.pairs])
        self.high = torch.nonzero(targets >= HIGH_THRESHOLD).flatten()
        self.low = torch.nonzero(targets < HIGH_THRESHOLD).flatten()
        self.batch_size, self.generator = batch_size, generator
        self.balanced = balanced and len(self.high) > 0 and len(self.low) > 0
        if balanced and not self.balanced:
            warnings.warn("all labeled positions fall in one class (q_hat < 0.5 or >= 0.5); sampling uniformly",
                          stacklevel=2)

    def _draw_from(self, pool: torch.Tensor, n: int) -> torch.Tensor:
        return pool[torch.randint(len(pool), (n,), generator=self.generator)]

    def draw(self) -> list[tuple[int, int]]:
        if self.balanced:
            n_low = self.batch_size // 2 + int(torch.randint(2, (1,), generator=self.generator)) * (
                self.batch_size % 2)
            chosen = torch.cat([self._draw_from(self.low, n_low),
                                self._draw_from(self.high, self.batch_size - n_low)])
        else:
            chosen = torch.randint(len(self.pairs), (self.batch_size,), generator=self.generator)
        return [self.pairs[i] for i in chosen.tolist()]
