"""What pavlab's trainers share (testbed SFT, verifier training, RL): the lr schedule, the device,
and crash-safe checkpoints.

A checkpoint (`CHECKPOINT_FILE` in the run folder) holds everything the next update depends on
(weights, optimizer and scheduler state, RNG states, the step counter, the log so far) in one
file replaced atomically, so a killed job resumes where it stopped and restoring it and running
one more step gives the same parameters as an uninterrupted run. What goes into the state is
each trainer's business; how it is written, read and seeded is decided here once.
"""

from __future__ import annotations

import math
import os
import pickle
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch

from pavlab.errors import PavlabError
from pavlab.io import atomic_open

CHECKPOINT_FILE = "checkpoint.pt"


def lr_factor(step: int, warmup: int, total: int, min_ratio: float) -> float:
    """Multiplier of the base lr at optimizer step `step` (0-based): linear warm-up, then cosine to `min_ratio`."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def resolve_device(name: str) -> torch.device:
    """'auto' is the GPU when there is one; any other name is taken as torch spells it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def rng_state() -> dict[str, Any]:
    """Python and torch (CPU and CUDA) RNG states."""
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Set the RNGs back to a state from `rng_state`."""
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write the state atomically: a kill leaves the previous checkpoint, never half of one."""
    with atomic_open(path, "wb") as handle:
        torch.save(state, handle)


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The saved state, or None when there is no checkpoint yet."""
    if not path.is_file():
        return None
    try:
        # Our own file: it holds Python RNG tuples and optimizer state, not only tensors.
        return torch.load(path, map_location="cpu", weights_only=True)
    except (RuntimeError, EOFError, OSError, pickle.UnpicklingError) as exc:  # truncated or foreign file
        raise PavlabError(f"unreadable checkpoint ({type(exc).__name__}); delete it to start over",
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
