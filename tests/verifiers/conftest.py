"""Tiny tokenizers and value models built in-process, so verifier tests need no downloads.

Builders reach tests as factory fixtures (not imports), which works under any pytest import mode.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from pavlab.testing import char_tokenizer
from pavlab.verifiers.model import ValueModel


def make_value_model(tokenizer: PreTrainedTokenizerFast, seed: int = 0, kind: str = "pav") -> ValueModel:
    torch.manual_seed(seed)
    backbone = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=256,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=True))
    model = ValueModel.from_backbone(backbone, kind=kind, prover="bok:4")
    torch.nn.init.normal_(model.value_head.weight, std=1.0)  # spread the values so comparisons are meaningful
    return model.eval()


@pytest.fixture
def tokenizer_factory() -> Callable[..., PreTrainedTokenizerFast]:
    return char_tokenizer


@pytest.fixture
def value_model_factory() -> Callable[..., ValueModel]:
    return make_value_model


@pytest.fixture
def tokenizer() -> PreTrainedTokenizerFast:
    return char_tokenizer()


@pytest.fixture
def value_model(tokenizer: PreTrainedTokenizerFast) -> ValueModel:
    return make_value_model(tokenizer)
