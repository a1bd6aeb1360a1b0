from __future__ import annotations

import pytest

from pavlab.policies.tokenization import encode_prompt, encode_response
from pavlab.verifiers.positions import build_scoring_inputs, step_end_chars, step_end_token_indices

STEPS = ["3+4=7.", "7*2=14.", "answer 14."]


def test_step_end_chars_include_separator() -> None:
    assert step_end_chars(["ab", "c"], "\n") == [3, 5]
    assert step_end_chars(["ab", "c"], "\n\n") == [4, 7]


def test_indices_from_offsets() -> None:
    offsets = [(0, 2), (2, 4), (4, 5), (5, 8), (8, 9)]
    assert step_end_token_indices(offsets, [4, 5, 9]) == [1, 2, 4]
    # a token straddling the end character is the one that contains the end of the step
    assert step_end_token_indices(offsets, [7]) == [3]
    with pytest.raises(ValueError):
        step_end_token_indices(offsets, [0])


@pytest.mark.parametrize("merged, separator", [((), "\n"), ((".\n",), "\n"), ((".\n", "\n\n"), "\n\n")])
def test_positions_cover_exactly_each_prefix(tokenizer_factory, merged: tuple[str, ...], separator: str) -> None:
    tok = tokenizer_factory(merged)
    ids, positions = build_scoring_inputs(tok, "q?", STEPS, separator)
    prompt_len = len(encode_prompt(tok, "q?"))
    assert len(positions) == len(STEPS) + 1 and positions[0] == prompt_len - 1
    for h, pos in enumerate(positions[1:], start=1):
        prefix = "".join(step + separator for step in STEPS[:h])
        assert "".join(tok.convert_ids_to_tokens(ids[prompt_len:pos + 1])) == prefix


def test_merged_separator_is_never_a_token_of_its_own(tokenizer_factory) -> None:
    """The bug class: with ".\\n" merged, searching for a "\\n" token finds no step ends at all."""
    tok = tokenizer_factory((".\n",))
    ids, _ = encode_response(tok, "".join(step + "\n" for step in STEPS))
    newline_id = tok.convert_tokens_to_ids("\n")
    assert newline_id not in ids
    full_ids, positions = build_scoring_inputs(tok, "q?", STEPS, "\n")
    merged_id = tok.convert_tokens_to_ids(".\n")
    assert [full_ids[p] for p in positions[1:]] == [merged_id] * len(STEPS)


def test_separator_merging_with_next_step_picks_the_token_holding_the_step_end(tokenizer_factory) -> None:
    tok = tokenizer_factory(("\na",))
    ids, positions = build_scoring_inputs(tok, "q", ["x", "ab"], "\n")
    assert tok.convert_ids_to_tokens(ids[positions[1]]) == "\na"
    assert tok.convert_ids_to_tokens(ids[positions[2]]) == "\n"


def test_a_response_without_steps_is_scored_at_the_prompt(tokenizer) -> None:
    ids, positions = build_scoring_inputs(tokenizer, "q?", [], "\n")
    assert ids == encode_prompt(tokenizer, "q?") and positions == [len(ids) - 1]


@pytest.mark.parametrize("merged, separator", [((), "\n"), ((".\n", "\n\n"), "\n\n")])
def test_many_scoring_inputs_equal_one_call_per_response(tokenizer_factory, merged, separator) -> None:
    from pavlab.verifiers.positions import build_many_scoring_inputs

    tok = tokenizer_factory(merged)
    prompts = ["q?", "other q", "q?", "q?"]
    steps_lists = [STEPS, STEPS[:1], [], STEPS[:2]]
    assert build_many_scoring_inputs(tok, prompts, steps_lists, separator) == [
        build_scoring_inputs(tok, prompt, steps, separator) for prompt, steps in zip(prompts, steps_lists, strict=True)]
    with pytest.raises(ValueError):
        build_many_scoring_inputs(tok, prompts, steps_lists[:2], separator)
