"""A tiny tokenizer for the testbed tasks: each number up to a bound is one token.

Why: a 1M-parameter model trained from scratch learns arithmetic and state tracking far better
when a number is one token than when it spells digits (FIELD.md). Numbers above the bound still
round-trip: WordPiece falls back to the longest known pieces (digits at worst), so any
well-formed prompt or response decodes back to itself. A word carries its leading space
(" 12" is one token), which halves the sequence length; "\\n" is always its own token, so step
boundaries never merge with their neighbours.
"""

from __future__ import annotations

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = {"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}
# Newline, a number or a run of symbols (each with an optional leading space), or a lone space.
_WORDS = r"\n| ?[0-9]+| ?[^0-9\s]+|\s"


def build_number_tokenizer(max_number: int, symbols: list[str]) -> PreTrainedTokenizerFast:
    """Tokenizer whose vocabulary is the specials, 0..max_number, `symbols`, each also with a leading space."""
    words = [str(k) for k in range(max_number + 1)] + list(symbols)
    vocab_list = list(SPECIAL_TOKENS.values()) + ["\n", " "] + words + [" " + word for word in words]
    vocab = {token: index for index, token in enumerate(dict.fromkeys(vocab_list))}
    model = models.WordPiece(vocab=vocab, unk_token=SPECIAL_TOKENS["unk_token"], continuing_subword_prefix="",
                             max_input_chars_per_word=1_000_000)
    tokenizer = Tokenizer(model)
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(_WORDS), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, clean_up_tokenization_spaces=False,
                                   **SPECIAL_TOKENS)
