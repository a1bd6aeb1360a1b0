"""Tiny tokenizers and value models built in-process, so verifier tests need no downloads.

Builders reach tests as factory fixtures (not imports), which works under any pytest import mode.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from transformers import PreTrainedTokenizerFast

from pavlab.testing import char_tokenizer, tiny_llama
from pavlab.verifiers.model import ValueModel


def make_value_model(tokenizer: PreTrainedTokenizerFast, seed: int = 0, kind: str = "pav") -> ValueModel:
    backbone = tiny_llama(tokenizer, seed, heads=2, tie=True)
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
