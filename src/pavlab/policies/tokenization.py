"""How (prompt, response) text becomes token ids: one convention shared by generation, verifiers and RL.

The prompt is encoded on its own (through the chat template when the tokenizer has one), the
response on its own without special tokens, and the two id lists are concatenated. Keeping the
two parts separate means a verifier sees exactly the ids the policy generated after the prompt,
and character offsets inside the response map to tokens without guessing.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import Any

from transformers import PreTrainedTokenizerFast


def encode_prompt(tokenizer: Any, prompt: str) -> list[int]:
    """Prompt ids: chat template with a generation prompt for chat models, else BOS + text."""
    if getattr(tokenizer, "chat_template", None):
        ids = tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                            tokenize=True)
        if isinstance(ids, dict) or hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return list(ids)
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    if tokenizer.bos_token_id is not None:
        ids = [tokenizer.bos_token_id, *ids]
    return list(ids)


def encode_response(tokenizer: Any, text: str) -> tuple[list[int], list[tuple[int, int]]]:
    """Response ids and each token's (start, end) character span inside `text`."""
    if not text:
        return [], []
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    return list(enc["input_ids"]), [tuple(span) for span in enc["offset_mapping"]]


def encode_responses(tokenizer: Any, texts: Sequence[str]) -> list[tuple[list[int], list[tuple[int, int]]]]:
    """`encode_response` of every text in one tokenizer call (per-call overhead dominates short texts)."""
    nonempty = [text for text in texts if text]
    if not nonempty:
        return [([], []) for _ in texts]
    backend = getattr(tokenizer, "_tokenizer", None)
    if isinstance(tokenizer, PreTrainedTokenizerFast) and hasattr(backend, "encode_batch"):
        # The Rust tokenizer directly: building a BatchEncoding costs more than encoding short texts. The
        # wrapper's call on the first text first sets the backend's state (no truncation or padding, its
        # special-token splitting) as it would for all of them.
        enc = tokenizer(nonempty[:1], add_special_tokens=False)
        encodings = [enc.encodings[0], *backend.encode_batch(nonempty[1:], add_special_tokens=False)]
        encoded = iter([(encoding.ids, encoding.offsets) for encoding in encodings])
    else:
        enc = tokenizer(nonempty, add_special_tokens=False, return_offsets_mapping=True)
        encoded = iter(zip(enc["input_ids"], enc["offset_mapping"], strict=True))
    results = []
    for text in texts:
        if not text:
            results.append(([], []))
            continue
        ids, offsets = next(encoded)
        results.append((list(ids), [tuple(span) for span in offsets]))
    return results


def decoded_offsets(tokenizer: Any, token_ids: list[int]) -> list[tuple[int, int]]:
    """Each token's (start, end) character span in the text `token_ids` decode to, by decoding growing prefixes.

    Why: a sampled sequence need not be the tokenizer's canonical encoding of its text (a policy
    can spell "10" as "1" "0"), and policy gradient must train the ids that were sampled, so
    their spans come from decoding them rather than from re-encoding the text. A token that
    leaves a multi-byte character unfinished gets an empty or partial span; the last end is the
    full decoded length.
    """
    spans, start = [], 0
    for count in range(1, len(token_ids) + 1):
        end = max(start, len(tokenizer.decode(token_ids[:count], skip_special_tokens=False,
                                              clean_up_tokenization_spaces=False)))
        spans.append((start, end))
        start = end
    return spans


def response_step_ends(text: str, separator: str) -> list[int]:
    """End character (exclusive, trailing separator included when present) of each non-blank step of `text`.

    The steps are exactly `Task.split_steps(text)`: pieces between separators, blank ones dropped.
    """
    if not separator:
        raise ValueError("the step separator must not be empty")
    ends, position = [], 0
    for piece in text.split(separator):
        end = min(position + len(piece) + len(separator), len(text))
        if piece.strip():
            ends.append(end)
        position += len(piece) + len(separator)
    return ends


def token_step_indices(offsets: Sequence[tuple[int, int]], step_ends: Sequence[int]) -> list[int]:
    """0-based step of each token (by its start character); -1 for every token when there are no steps."""
    if not step_ends:
        return [-1] * len(offsets)
    last = len(step_ends) - 1
    return [min(bisect_right(step_ends, start), last) for start, _ in offsets]


def first_content_tokens(text: str, offsets: Sequence[tuple[int, int]], token_steps: Sequence[int]) -> list[bool]:
    """True for the first token of each step that is not blank: where the step makes its choice (a blank line
    before a step belongs to it, `rl/rewards.py` module doc, but chooses nothing)."""
    seen: set[int] = set()
    marks = []
    for (start, end), step in zip(offsets, token_steps, strict=True):
        first = step >= 0 and step not in seen and bool(text[start:end].strip())
        if first:
            seen.add(step)
        marks.append(first)
    return marks
