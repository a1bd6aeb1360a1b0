"""Crash-safe RL checkpoints: the whole training state in one file, replaced atomically.

A checkpoint holds everything the next update depends on (policy, reference and value
weights, optimizer and scheduler state, Python and torch RNG states, the iteration counter and
the metrics so far); the sampler's seed is derived from the seed and the iteration, so it is
restored with the counter. Restoring it and running one more iteration therefore gives the
same parameters as an uninterrupted run.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from pavlab.errors import PavlabError
from pavlab.io import atomic_open


def rng_state() -> dict[str, Any]:
    """Python and torch (CPU and CUDA) RNG states."""
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    with atomic_open(path, "wb") as handle:
        torch.save(state, handle)


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The saved state, or None when there is no checkpoint yet."""
    if not path.is_file():
        return None
    try:
        # Our own file: it holds Python RNG tuples and optimizer state, not only tensors.
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError) as exc:
        raise PavlabError(f"unreadable checkpoint ({str(exc).splitlines()[0]}); delete it to restart",
                          path=path) from None


def save_model_folder(model: Any, tokenizer: Any, out_dir: Path) -> Path:
    """`save_pretrained` into a temp folder, then swap it in: a killed job never leaves half a model."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        if out_dir.exists():
            old = out_dir.with_name(f".{out_dir.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out_dir, old)
            os.replace(tmp, out_dir)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out_dir
