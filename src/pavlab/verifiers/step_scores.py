"""The process verifier: Q^pi of every prefix, and the prover's Q^mu beside it.

A `ProcessVerifier` returns values only; turning them into process rewards (advantages, the
effective reward Q^pi + alpha * A^mu) is `pavlab.verifiers.progress`, the same for search and RL.
The prover mu is either Best-of-K(pi), derived from the Q^pi model by formula as in the paper,
or another policy whose Q^mu was learned by a separately trained verifier.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pavlab.errors import PavlabError
from pavlab.policies.base import ComputeMeter
from pavlab.policies.prover_spec import Prover
from pavlab.verifiers.model import ValueModel
from pavlab.verifiers.prefix_cache import PrefixKVCache
from pavlab.verifiers.progress import advantages, bok_values
from pavlab.verifiers.scoring import score_inputs, score_prefixes, scoring_inputs
from pavlab.verifiers.third_party import load_value_model


@dataclass
class StepValues:
    """Per-response verifier output: the H+1 state values of Q^pi and of the prover (index 0 = bare prompt)."""

    q_pi: np.ndarray
    q_mu: np.ndarray

    @property
    def advantages(self) -> np.ndarray:
        """A^mu of the H steps: the prover's progress."""
        return advantages(self.q_mu)


class ProcessVerifier:
    """The Q^pi model plus the prover's Q^mu (by BoK formula or a second model): what search and RL call."""

    def __init__(self, q_pi: ValueModel, tokenizer: Any, prover: Prover, q_mu: ValueModel | None = None,
                 q_mu_tokenizer: Any = None, batch_size: int = 32) -> None:
        if prover.kind != "bok" and q_mu is None:
            raise PavlabError(f"prover '{prover}' needs a Q^mu verifier (train one on its rollouts, "
                              "then use model:DIR)", field="prover")
        self.q_pi, self.tokenizer, self.prover = q_pi, tokenizer, prover
        self.q_mu, self.q_mu_tokenizer = q_mu, q_mu_tokenizer if q_mu_tokenizer is not None else tokenizer
        self.batch_size = batch_size
        self._caches: tuple[PrefixKVCache, PrefixKVCache] | None = None
        self._scored: tuple[dict[tuple[str, tuple[str, ...]], list[int]], ...] = ({}, {})

    @classmethod
    def load(cls, q_pi_dir: str | Path, prover: str | Prover, batch_size: int = 32,
             device: str = "cpu") -> ProcessVerifier:
        """Load the Q^pi verifier (with its tokenizer) and, for `model:DIR`, the Q^mu verifier too, on `device`.

        Either may be a pavlab verifier folder or a third-party PRM spec (`verifiers/third_party.py`)."""
        prover = prover if isinstance(prover, Prover) else Prover.parse(prover)
        q_mu = q_mu_tokenizer = None
        if prover.kind == "model":
            q_mu, q_mu_tokenizer = load_value_model(prover.path)
            q_mu.to(device)
        q_pi, tokenizer = load_value_model(q_pi_dir)
        q_pi.to(device)
        return cls(q_pi, tokenizer, prover, q_mu, q_mu_tokenizer, batch_size=batch_size)

    @contextmanager
    def reusing_prefixes(self) -> Iterator[None]:
        """Within the block, a response that extends one of the previous call's by a step is read only
        from where that one ended (beam search; `verifiers/prefix_cache.py`). The kept activations are freed after."""
        self._caches = (PrefixKVCache(), PrefixKVCache())
        self._scored = ({}, {})
        try:
            yield
        finally:
            self._caches = None
            self._scored = ({}, {})

    def retain_prefixes(self, prompts: Sequence[str], steps_lists: Sequence[Sequence[str]]) -> None:
        """Within `reusing_prefixes`: free every kept activation but these responses' (what comes next extends)."""
        if self._caches is None:
            return
        for model, tokenizer, cache, scored in ((self.q_pi, self.tokenizer, self._caches[0], self._scored[0]),
                                                (self.q_mu, self.q_mu_tokenizer, self._caches[1], self._scored[1])):
            if model is None:
                continue
            keys = [(prompt, tuple(steps)) for prompt, steps in zip(prompts, steps_lists, strict=True)]
            # what beam search keeps was scored by the last call: its ids are known, no need to re-tokenize
            missing = [index for index, key in enumerate(keys) if key not in scored]
            encoded = iter(scoring_inputs(model, tokenizer, [prompts[index] for index in missing],
                                          [steps_lists[index] for index in missing], model.info.step_separator)
                           if missing else [])
            cache.retain([scored[key] if key in scored else next(encoded)[0] for key in keys])

    def score(self, prompts: Sequence[str], steps_lists: Sequence[Sequence[str]],
              meter: ComputeMeter | None = None) -> list[StepValues]:
        """Values of every prefix of every response (one pass per response and model)."""
        q_pi_cache, q_mu_cache = self._caches or (None, None)
        q_pis = self._score(0, self.q_pi, self.tokenizer, prompts, steps_lists, meter, q_pi_cache)
        if self.q_mu is None:
            q_mus = [bok_values(q, self.prover.k) for q in q_pis]
        else:
            q_mus = self._score(1, self.q_mu, self.q_mu_tokenizer, prompts, steps_lists, meter, q_mu_cache)
        return [StepValues(q_pi, q_mu) for q_pi, q_mu in zip(q_pis, q_mus, strict=True)]

    def _score(self, which: int, model: ValueModel, tokenizer: Any, prompts: Sequence[str],
               steps_lists: Sequence[Sequence[str]], meter: ComputeMeter | None,
               cache: PrefixKVCache | None) -> list[np.ndarray]:
        if cache is None:
            return score_prefixes(model, tokenizer, prompts, steps_lists, model.info.step_separator, self.batch_size,
                                  meter)
        inputs = scoring_inputs(model, tokenizer, prompts, steps_lists, model.info.step_separator)
        self._scored[which].clear()  # the ids of this call's responses, for `retain_prefixes`
        self._scored[which].update(((prompt, tuple(steps)), ids) for prompt, steps, (ids, _)
                                   in zip(prompts, steps_lists, inputs, strict=True))
        return score_inputs(model, tokenizer, inputs, self.batch_size, meter, cache)
