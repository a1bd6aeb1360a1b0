"""Label rows in, training examples out (the row format itself is `pavlab.labeling.format`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pavlab.labeling.format import LabeledResponse
from pavlab.verifiers.model import VerifierKind
from pavlab.verifiers.positions import build_scoring_inputs


@dataclass
class TrainingExample:
    """Token ids of one response and the soft targets at its labeled scoring positions."""

    input_ids: list[int]
    positions: list[int]
    targets: list[float]


def build_examples(responses: Sequence[LabeledResponse], tokenizer: Any, kind: VerifierKind,
                   separator: str = "\n", max_length: int | None = None) -> list[TrainingExample]:
    """Tokenize responses and attach targets: q_hat at every labeled state (prm/pav) or Rex at the end (orm).

    Sequences longer than `max_length` are cut and lose the positions past the cut; a response
    left with no labeled position is dropped.
    """
    examples = []
    for response in responses:
        ids, positions = build_scoring_inputs(tokenizer, response.prompt, response.steps, separator)
        if kind == "orm":
            labeled = [(positions[-1], float(response.correct))]
        else:
            labeled = [(pos, q) for pos, q in zip(positions, response.q_hat, strict=True) if q is not None]
        if max_length is not None:
            ids = ids[:max_length]
            labeled = [(pos, q) for pos, q in labeled if pos < max_length]
        if labeled:
            examples.append(TrainingExample(ids, [pos for pos, _ in labeled], [q for _, q in labeled]))
    return examples
