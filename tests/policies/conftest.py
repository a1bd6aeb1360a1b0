"""A tiny random Llama and a character-level tokenizer built in-process, so backend tests need no downloads."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

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
    monkeypatch.setitem(sys.modules, "vllm.platforms", module.platforms)
    return module


# The real engine: head size 32 is the smallest the CPU engine's attention supports (the default tiny Llama's is 8).
ENGINE_MODEL = {"hidden": 64, "heads": 2, "kv_heads": 1}
# float32: vLLM's "auto" would run a float32 checkpoint in 16 bits, and logprobs are compared with HF's.
# On CPU: eager (no inductor compile at start-up) and a small KV cache instead of a share of RAM (a
# VLLM_CPU_KVCACHE_SPACE in the environment would override it).
ENGINE_OPTIONS = "gpu_memory_utilization=0.2&dtype=float32"
CPU_ENGINE_OPTIONS = "&enforce_eager=true&kv_cache_space_gb=0.5"


def real_vllm_platform() -> str:
    """"cpu" or "gpu" where the installed vllm can run here; skips the test otherwise."""
    if importlib.util.find_spec("vllm") is None:
        pytest.skip("vllm not installed (make test-vllm installs the CPU engine)")
    from vllm.platforms import current_platform

    if current_platform.is_cpu():
        return "cpu"
    if current_platform.is_cuda_alike():
        return "gpu"
    pytest.skip("the installed vllm has no platform here (a GPU build without a GPU)")


def build_real_vllm(path: Path | str, options: str = "", step_separator: str = "\n") -> Any:
    """A `VLLMPolicy` on the installed engine (float32; eager with a small KV cache on CPU)."""
    from pavlab.policies.vllm import VLLMPolicy

    cpu = real_vllm_platform() == "cpu"
    return VLLMPolicy(f"{path}?{ENGINE_OPTIONS}{CPU_ENGINE_OPTIONS if cpu else ''}{options}",
                      step_separator=step_separator)


@pytest.fixture
def vllm_platform() -> str:
    """"cpu" or "gpu": where the installed vllm runs (the test skips where it cannot)."""
    return real_vllm_platform()


@pytest.fixture
def engine_llama(tokenizer: PreTrainedTokenizerFast) -> LlamaForCausalLM:
    return testing.tiny_llama(tokenizer, **ENGINE_MODEL)


@pytest.fixture(scope="session")
def shared_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Llama the real engine can run, saved once per session (what `checkpoint_dir` holds in the
    contract tests, which build the same seeded model)."""
    path = tmp_path_factory.mktemp("engine") / "tiny"
    tokenizer = testing.char_tokenizer()
    testing.tiny_llama(tokenizer, **ENGINE_MODEL).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def real_vllm() -> Iterator[Callable[..., Any]]:
    """`real_vllm(path, options="")` -> a `VLLMPolicy` on the installed engine, shared by the whole session
    (each engine start costs ~20-60 s on 2 cores) and stopped at its end."""
    engines: dict[tuple[str, str, str], Any] = {}

    def make(path: Path | str, options: str = "", step_separator: str = "\n") -> Any:
        key = (str(path), options, step_separator)
        if key not in engines:
            engines[key] = build_real_vllm(path, options, step_separator)
        return engines[key]

    yield make
    for policy in engines.values():
        policy.close()
    engines.clear()


@pytest.fixture
def own_vllm() -> Iterator[Callable[..., Any]]:
    """Like `real_vllm`, for an engine only this test uses: stopped when the test ends (each holds ~1-4 GB)."""
    engines: list[Any] = []

    def make(path: Path | str, options: str = "", step_separator: str = "\n") -> Any:
        engines.append(build_real_vllm(path, options, step_separator))
        return engines[-1]

    yield make
    for policy in engines:
        policy.close()
