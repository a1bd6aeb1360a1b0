from __future__ import annotations

import numpy as np

from pavlab.policies.base import ComputeMeter
from pavlab.policies.tokenization import encode_prompt, encode_response
from pavlab.verifiers.model import ValueModel
from pavlab.verifiers.scoring import pad_id_of, score_prefixes, score_sequences

PROMPTS = ["2+3?", "what is 9-4?", "1?"]
STEPS = [["2+3=5.", "answer 5."], ["9-4=6.", "6-1=5.", "answer 5."], ["1."]]


def per_prefix_values(model: ValueModel, tokenizer, prompt: str, steps: list[str]) -> np.ndarray:
    """The naive PRM way: one pass over each prefix, read at its last token."""
    sequences = []
    for h in range(len(steps) + 1):
        response_ids, _ = encode_response(tokenizer, "".join(step + "\n" for step in steps[:h]))
        sequences.append(encode_prompt(tokenizer, prompt) + response_ids)
    values = score_sequences(model, sequences, [[len(seq) - 1] for seq in sequences], pad_id_of(tokenizer))
    return np.concatenate(values)


def test_one_pass_equals_one_pass_per_prefix(value_model: ValueModel, tokenizer) -> None:
    one_pass = score_prefixes(value_model, tokenizer, PROMPTS, STEPS, batch_size=2)
    for values, prompt, steps in zip(one_pass, PROMPTS, STEPS, strict=True):
        assert values.shape == (len(steps) + 1,)
        np.testing.assert_allclose(values, per_prefix_values(value_model, tokenizer, prompt, steps), atol=1e-5)
    assert np.ptp(np.concatenate(one_pass)) > 1e-3  # the values actually differ, so the comparison has teeth


def test_padding_and_batch_size_do_not_change_values(value_model: ValueModel, tokenizer) -> None:
    batched = score_prefixes(value_model, tokenizer, PROMPTS, STEPS, batch_size=3)
    single = score_prefixes(value_model, tokenizer, PROMPTS, STEPS, batch_size=1)
    for a, b in zip(batched, single, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_meter_is_charged_one_pass_per_response(value_model: ValueModel, tokenizer) -> None:
    meter = ComputeMeter()
    score_prefixes(value_model, tokenizer, PROMPTS, STEPS, batch_size=2, meter=meter)
    lengths = [len(encode_prompt(tokenizer, p)) + len(encode_response(tokenizer, "".join(s + "\n" for s in st))[0])
               for p, st in zip(PROMPTS, STEPS, strict=True)]
    assert meter.verifier_passes == len(PROMPTS)
    assert meter.verifier_tokens == sum(lengths)


def test_scoring_leaves_training_mode_alone(value_model: ValueModel, tokenizer) -> None:
    value_model.train()
    score_prefixes(value_model, tokenizer, PROMPTS[:1], STEPS[:1])
    assert value_model.training
