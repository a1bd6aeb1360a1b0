"""A tiny random Llama and a character-level tokenizer built in-process, so backend tests need no downloads."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from pavlab import testing


@pytest.fixture
def tokenizer() -> PreTrainedTokenizerFast:
    return testing.char_tokenizer()


@pytest.fixture
def merged_tokenizer() -> PreTrainedTokenizerFast:
    """Character tokenizer plus the token "a\\n", which carries a separator inside a longer piece."""
    return testing.char_tokenizer(merged=("a\n",))


@pytest.fixture
def tiny_llama(tokenizer: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    return testing.tiny_llama(tokenizer)


@pytest.fixture
def checkpoint_dir(tmp_path: Path, tiny_llama: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast) -> Path:
    """The tiny model saved as a plain HF checkpoint (safetensors + tokenizer files)."""
    path = tmp_path / "tiny"
    tiny_llama.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny models run far faster on one thread than on two contended ones (the dev box is shared): this
    folder took 187 s with torch's default 2 threads under load, 16 s with 1."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)

