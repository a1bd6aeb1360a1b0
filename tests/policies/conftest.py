"""A tiny random Llama and a character-level tokenizer built in-process, so backend tests need no downloads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tokenizers import Tokenizer, decoders, models
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
CHARS = list("abcdefghijklmnopqrstuvwxyz0123456789+-*=. ?\n")


def make_char_tokenizer(merged: tuple[str, ...] = ()) -> PreTrainedTokenizerFast:
    """One token per character; `merged` adds multi-character tokens (e.g. "a\\n") with their BPE merges."""
    vocab = {token: index for index, token in enumerate(SPECIALS + CHARS)}
    for token in merged:
        vocab[token] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[(t[0], t[1:]) for t in merged], unk_token="<unk>"))
    backend.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>", clean_up_tokenization_spaces=False)


def make_tiny_llama(tokenizer: PreTrainedTokenizerFast, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id))
    return model.eval()


@pytest.fixture
def tokenizer() -> PreTrainedTokenizerFast:
    return make_char_tokenizer()


@pytest.fixture
def merged_tokenizer() -> PreTrainedTokenizerFast:
    """Character tokenizer plus the token "a\\n", which carries a separator inside a longer piece."""
    return make_char_tokenizer(merged=("a\n",))


@pytest.fixture
def tiny_llama(tokenizer: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    return make_tiny_llama(tokenizer)


@pytest.fixture
def checkpoint_dir(tmp_path: Path, tiny_llama: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast) -> Path:
    """The tiny model saved as a plain HF checkpoint (safetensors + tokenizer files)."""
    path = tmp_path / "tiny"
    tiny_llama.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
