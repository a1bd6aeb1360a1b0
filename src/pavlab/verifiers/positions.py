"""Where in the token sequence each step of a response is scored.

A step's value is read at the last token that *starts* before the step's end character. The
position is found from the tokenizer's character offsets rather than by looking for a
separator token, because a separator often merges with its neighbours (".\n", "\n\n") and then
never appears as a token of its own: searching for it silently drops or shifts steps.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from typing import Any

from pavlab.policies.tokenization import encode_prompt, encode_response, encode_responses


def step_end_chars(steps: Sequence[str], separator: str) -> list[int]:
    """Character offset (exclusive) where each step, with its trailing separator, ends in the response."""
    ends, total = [], 0
    for step in steps:
        total += len(step) + len(separator)
        ends.append(total)
    return ends


def step_end_token_indices(offsets: Sequence[tuple[int, int]], step_end_chars: Sequence[int]) -> list[int]:
    """Index of the last response token whose span starts before each step's end character."""
    starts = [start for start, _ in offsets]
    indices = []
    for end in step_end_chars:
        index = bisect_left(starts, end) - 1
        if index < 0:
            raise ValueError(f"no response token starts before character {end}")
        indices.append(index)
    return indices


def build_scoring_inputs(tokenizer: Any, prompt: str, steps: Sequence[str], separator: str = "\n",
                         prompt_ids: list[int] | None = None) -> tuple[list[int], list[int]]:
    """Token ids of prompt + response, and the H+1 scoring positions (0: last prompt token, h: end of step h).

    The ids follow the shared encoding convention (`encode_prompt` + `encode_response`), so the
    verifier sees exactly what the policy generated. `prompt_ids`: the prompt's, if already encoded.
    """
    prompt_ids = encode_prompt(tokenizer, prompt) if prompt_ids is None else prompt_ids
    return _assemble(prompt_ids, steps, separator, encode_response(tokenizer, response_text(steps, separator)))


def build_many_scoring_inputs(tokenizer: Any, prompts: Sequence[str], steps_lists: Sequence[Sequence[str]],
                              separator: str = "\n") -> list[tuple[list[int], list[int]]]:
    """`build_scoring_inputs` of many responses: each distinct prompt encoded once, all responses in one
    tokenizer call (beam search scores ~B*C short responses of one prompt per call)."""
    if len(prompts) != len(steps_lists):
        raise ValueError(f"{len(prompts)} prompts but {len(steps_lists)} responses")
    prompt_ids = {prompt: encode_prompt(tokenizer, prompt) for prompt in dict.fromkeys(prompts)}
    encoded = encode_responses(tokenizer, [response_text(steps, separator) for steps in steps_lists])
    return [_assemble(prompt_ids[prompt], steps, separator, response)
            for prompt, steps, response in zip(prompts, steps_lists, encoded, strict=True)]


def response_text(steps: Sequence[str], separator: str) -> str:
    """The response as the verifier reads it: every step followed by the separator."""
    return "".join(step + separator for step in steps)


def _assemble(prompt_ids: list[int], steps: Sequence[str], separator: str,
              response: tuple[list[int], list[tuple[int, int]]]) -> tuple[list[int], list[int]]:
    if not prompt_ids:
        raise ValueError("the prompt encodes to no tokens, so the bare prompt has no scoring position")
    response_ids, offsets = response
    step_tokens = step_end_token_indices(offsets, step_end_chars(steps, separator))
    positions = [len(prompt_ids) - 1] + [len(prompt_ids) + index for index in step_tokens]
    return prompt_ids + response_ids, positions
