"""Label rows in, training examples out (the row format itself is `pavlab.labeling.format`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pavlab.errors import PavlabError
from pavlab.labeling.format import LabeledResponse
from pavlab.verifiers.model import VerifierKind
from pavlab.verifiers.positions import build_scoring_inputs
from pavlab.verifiers.progress import bok_label


@dataclass
class TrainingExample:
    """Token ids of one response and the soft targets at its labeled scoring positions."""

    input_ids: list[int]
    positions: list[int]
    targets: list[float]


def bok_targets(response: LabeledResponse, k: int) -> list[float | None]:
    """Unbiased Best-of-K values of a row's states from its rollout counts (None where fewer than K rollouts).

    The finished response's own value is its outcome whatever K is: nothing is left to sample.
    """
    if response.n_rollouts is None:
        raise PavlabError(f"Best-of-{k} targets need rollout counts, and this label row has none",
                          field="n_rollouts")
    last = len(response.q_hat) - 1
    return [q if q is None or h == last else bok_label(q, n, k) if n is not None and n >= k else None
            for h, (q, n) in enumerate(zip(response.q_hat, response.n_rollouts, strict=True))]


def build_examples(responses: Sequence[LabeledResponse], tokenizer: Any, kind: VerifierKind,
                   separator: str = "\n", max_length: int | None = None,
                   target_bok: int | None = None) -> list[TrainingExample]:
    """Tokenize responses and attach targets: q_hat at every labeled state (prm/pav) or Rex at the end (orm).

    With `target_bok`, the targets are Best-of-K values (`bok_targets`): a PAV of the prover BoK(pi)
    learned from pi's own rollouts. Sequences longer than `max_length` are cut and lose the
    positions past the cut; a response left with no labeled position is dropped.
    """
    examples = []
    for response in responses:
        ids, positions = build_scoring_inputs(tokenizer, response.prompt, response.steps, separator)
        if kind == "orm":
            labeled = [(positions[-1], float(response.correct))]
        else:
            values = response.q_hat if target_bok is None else bok_targets(response, target_bok)
            labeled = [(pos, q) for pos, q in zip(positions, values, strict=True) if q is not None]
        if max_length is not None:
            ids = ids[:max_length]
            labeled = [(pos, q) for pos, q in labeled if pos < max_length]
        if labeled:
            examples.append(TrainingExample(ids, [pos for pos, _ in labeled], [q for _, q in labeled]))
    return examples
