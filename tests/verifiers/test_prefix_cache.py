"""Reusing the last call's activations gives the values of a full pass while reading only the new steps."""

from __future__ import annotations

import random

import numpy as np

from pavlab.policies.base import ComputeMeter
from pavlab.verifiers.positions import build_scoring_inputs
from pavlab.verifiers.prefix_cache import PrefixKVCache
from pavlab.verifiers.scoring import pad_id_of, score_sequences


def test_beam_like_calls_match_full_passes_and_read_only_new_tokens(tokenizer, value_model):
    rng = random.Random(0)

    def step() -> str:
        return "".join(rng.choice("0123456789+=") for _ in range(rng.randint(1, 7)))

    cache, beams = PrefixKVCache(), [(prompt, []) for prompt in ("12+3=?", "7", "99 -> 4 | 1 2") for _ in range(2)]
    for depth in range(4):
        candidates = [(prompt, [*steps, step()]) for prompt, steps in beams for _ in range(3)]
        inputs = [build_scoring_inputs(tokenizer, prompt, steps) for prompt, steps in candidates]
        sequences, positions = [ids for ids, _ in inputs], [pos for _, pos in inputs]
        full_meter, reuse_meter = ComputeMeter(), ComputeMeter()
        full = score_sequences(value_model, sequences, positions, pad_id_of(tokenizer), 5, full_meter)
        reused = cache.score(value_model, sequences, positions, pad_id_of(tokenizer), 5, reuse_meter)
        for a, b in zip(full, reused, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-5)
        assert reuse_meter.verifier_passes == full_meter.verifier_passes == len(candidates)
        new_tokens = sum(len(ids) - (pos[-2] + 1) for ids, pos in zip(sequences, positions, strict=True))
        # depth 0: each prompt is read once (the candidates' shared prefix), then every first step on top of it
        prompts = {tuple(ids[:pos[0] + 1]) for ids, pos in zip(sequences, positions, strict=True)}
        assert reuse_meter.verifier_tokens == new_tokens + (sum(map(len, prompts)) if depth == 0 else 0)
        beams = rng.sample(candidates, 6)
    assert len(cache.entries) == len({tuple(ids) for ids in sequences})


def test_a_sequence_that_extends_nothing_cached_is_read_in_full(tokenizer, value_model):
    cache = PrefixKVCache()
    first = build_scoring_inputs(tokenizer, "1+1=?", ["1+1=2"])
    other = build_scoring_inputs(tokenizer, "2+2=?", ["2+2=4", "done"])
    cache.score(value_model, [first[0]], [first[1]], pad_id_of(tokenizer))
    meter = ComputeMeter()
    values = cache.score(value_model, [other[0]], [other[1]], pad_id_of(tokenizer), meter=meter)
    np.testing.assert_allclose(values[0], score_sequences(value_model, [other[0]], [other[1]],
                                                          pad_id_of(tokenizer))[0], atol=1e-6)
    assert meter.verifier_tokens == len(other[0])


def test_retain_keeps_only_what_the_next_call_extends(tokenizer, value_model):
    cache = PrefixKVCache()
    inputs = [build_scoring_inputs(tokenizer, "7", [step]) for step in ("1+1=2", "2+2=4", "3+3=6")]
    cache.score(value_model, [ids for ids, _ in inputs], [pos for _, pos in inputs], pad_id_of(tokenizer))
    cache.retain([inputs[1][0]])
    assert list(cache.entries) == [tuple(inputs[1][0])]


def test_retained_beams_sit_in_one_block_and_still_match_full_passes(tokenizer, value_model):
    """With `retain` between depths (as beam search calls it) the kept rows are moved into one block, right-aligned,
    and the next depth's values still equal a full pass (also when a retain keeps rows of an earlier block)."""
    rng = random.Random(1)

    def step() -> str:
        return "".join(rng.choice("0123456789+=") for _ in range(rng.randint(1, 9)))

    cache, beams = PrefixKVCache(), [(prompt, []) for prompt in ("12+3=?", "7", "99 -> 4 | 1 2") for _ in range(3)]
    for depth in range(5):
        candidates = [(prompt, [*steps, step()]) for prompt, steps in beams for _ in range(3)]
        inputs = [build_scoring_inputs(tokenizer, prompt, steps) for prompt, steps in candidates]
        sequences, positions = [ids for ids, _ in inputs], [pos for _, pos in inputs]
        full = score_sequences(value_model, sequences, positions, pad_id_of(tokenizer), 4)
        meter = ComputeMeter()
        reused = cache.score(value_model, sequences, positions, pad_id_of(tokenizer), 4, meter)
        for a, b in zip(full, reused, strict=True):
            np.testing.assert_allclose(a, b, atol=1e-5)
        if depth:
            assert meter.verifier_tokens == sum(len(ids) - (pos[-2] + 1)
                                                for ids, pos in zip(sequences, positions, strict=True))
        kept = rng.sample(range(len(candidates)), 7)
        cache.retain([sequences[index] for index in kept])
        if depth == 2:  # a second retain (fewer rows) re-cuts the merged block
            kept = kept[:5]
            cache.retain([sequences[index] for index in kept])
        blocks = {id(entry.block) for entry in cache.entries.values()}
        assert len(blocks) == 1 and len(cache.entries) == len({tuple(sequences[index]) for index in kept})
        width = next(iter(cache.entries.values())).block[0][0].shape[2]
        assert all(entry.stop == width for entry in cache.entries.values())
        beams = [candidates[index] for index in kept]


def test_misses_that_share_a_prefix_read_it_once(tokenizer, value_model):
    """Candidates that extend one uncached prefix by a step (a beam's first depth) read that prefix once; lone
    misses and responses of one step or none are read in full. Values equal full passes."""
    inputs = [build_scoring_inputs(tokenizer, prompt, steps) for prompt, steps in (
        ("12+3=?", ["1+2"]), ("12+3=?", ["15"]), ("12+3=?", ["1+2"]), ("7", ["a", "bc"]), ("7", ["a", "b"]),
        ("99", ["x"]), ("5", []))]
    sequences, positions = [ids for ids, _ in inputs], [pos for _, pos in inputs]
    meter = ComputeMeter()
    values = PrefixKVCache().score(value_model, sequences, positions, pad_id_of(tokenizer), 2, meter)
    for a, b in zip(score_sequences(value_model, sequences, positions, pad_id_of(tokenizer)), values, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)
    shared = [(0, 1, 2), (3, 4)]
    expected = sum(positions[group[0]][-2] + 1 + sum(len(sequences[i]) - positions[i][-2] - 1 for i in group)
                   for group in shared) + len(sequences[5]) + len(sequences[6])
    assert meter.verifier_tokens == expected and meter.verifier_passes == len(sequences)

