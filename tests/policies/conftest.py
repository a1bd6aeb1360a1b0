"""A tiny random Llama and a character-level tokenizer built in-process, so backend tests need no downloads."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

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


@pytest.fixture
def vllm_standin(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """fake_vllm.py installed as `vllm` (and `vllm.inputs`) for one test, so `VLLMPolicy` and its
    `import_vllm` run unchanged on CPU. Loaded fresh each time: the engine class keeps per-test state."""
    spec = importlib.util.spec_from_file_location("fake_vllm", Path(__file__).with_name("fake_vllm.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "fake_vllm", module)  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setitem(sys.modules, "vllm.inputs", module.inputs)
    return module
