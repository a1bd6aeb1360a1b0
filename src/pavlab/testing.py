"""Tiny models and tokenizers built in-process, for tests and examples that must not download anything.

Like `transformers.testing_utils`: small, deterministic building blocks that every test folder
shares instead of keeping its own copy.
"""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, decoders, models
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from pavlab.policies.testbed import COUNTDOWN_SYMBOLS
from pavlab.policies.testbed_tokenizer import build_number_tokenizer
from pavlab.verifiers.model import ValueModel

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
CHARS = list("abcdefghijklmnopqrstuvwxyz0123456789+-*=. ?\n")


def char_tokenizer(merged: tuple[str, ...] = ()) -> PreTrainedTokenizerFast:
    """One token per character; `merged` adds multi-character tokens (e.g. "a\\n") with their BPE merges,
    so a separator can sit inside a longer token as it does with real BPE vocabularies."""
    vocab = {token: index for index, token in enumerate(SPECIALS + CHARS)}
    for token in merged:
        vocab[token] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[(t[0], t[1:]) for t in merged], unk_token="<unk>"))
    backend.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>", clean_up_tokenization_spaces=False)


def tiny_llama(tokenizer: PreTrainedTokenizerFast, seed: int = 0, hidden: int = 32, intermediate: int | None = None,
               layers: int = 2, heads: int = 4, kv_heads: int = 2, max_positions: int = 256, tie: bool = False
               ) -> LlamaForCausalLM:
    """A seeded random Llama over `tokenizer`'s vocabulary: unit-test size by default, testbed size for
    benchmarks (hidden 128, 4 layers)."""
    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=intermediate or 2 * hidden,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=kv_heads,
        max_position_embeddings=max_positions, tie_word_embeddings=tie, bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)).eval()


def countdown_tokenizer(max_number: int = 9) -> PreTrainedTokenizerFast:
    """The testbed's number tokenizer over 0..`max_number` and the countdown symbols: small enough that a random
    model ends steps and responses often."""
    return build_number_tokenizer(max_number, COUNTDOWN_SYMBOLS)


def random_value_model(tokenizer: PreTrainedTokenizerFast, seed: int = 1, prover: str = "bok:4") -> ValueModel:
    """A random Q^pi verifier on a tiny Llama; the head's weights are spread so that its rankings differ."""
    model = ValueModel.from_backbone(tiny_llama(tokenizer, seed, tie=True), prover=prover)
    torch.nn.init.normal_(model.value_head.weight, std=1.0)
    return model.eval()
