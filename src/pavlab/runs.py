"""Run folders: every job records what produced it, and refuses to resume under a different config.

`run.json` holds the resolved config, the job kind, package versions, git revision and start
time. Rerunning into the same folder resumes only if the config is the same; otherwise the
error lists the fields that changed (set PAVLAB_ALLOW_CONFIG_CHANGE=1 to resume anyway). A run linked
into another folder (an ORM-RL baseline shared by two studies) resumes there: its recorded `out`
resolves to the same folder, so only `out`'s spelling differs.
"""

from __future__ import annotations

import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from pavlab.config import Config
from pavlab.errors import PavlabError
from pavlab.io import read_json, write_json

# Fields that change how a job runs but not what it writes: resuming with other values is fine.
EXECUTION_ONLY_FIELDS = frozenset({"workers", "device", "progress", "tensorboard", "part", "parts"})

TRACKED_PACKAGES = ("pavlab", "torch", "transformers", "tokenizers", "math-verify", "vllm", "ray", "peft",
                    "tensorboard")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_revision() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def _changed_fields(old: Any, new: Any, prefix: str = "") -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return [c for key in sorted(set(old) | set(new))
                for c in _changed_fields(old.get(key), new.get(key), f"{prefix}{key}.")]
    return [] if old == new else [f"{prefix.rstrip('.')}: {old!r} -> {new!r}"]


def _with_defaults(config: Config, recorded: Any) -> Any:
    """The recorded config with the defaults of fields added since it was written: a run started before a
    field existed ran as its default (new fields keep the old behaviour by default), so resuming it with the
    default is no change. The record as it is when it no longer validates."""
    try:
        return type(config).model_validate(recorded).model_dump(mode="json")
    except (ValueError, TypeError, PavlabError):
        return recorded


def _same_folder(recorded_out: Any, run_dir: Path) -> bool:
    """Is the recorded `out` the folder `run_dir` reaches (a run linked into another study's folder)?"""
    try:
        return recorded_out is not None and Path(recorded_out).resolve() == run_dir.resolve()
    except OSError:
        return False


def prepare_run(out: str | Path, config: Config, kind: str) -> Path:
    """Create (or reopen for resuming) the run folder `out` for a job of `kind` with `config`."""
    run_dir = Path(out)
    record_path = run_dir / f"{kind}_run.json"
    resolved = config.model_dump(mode="json")
    if record_path.exists():
        previous = read_json(record_path)
        recorded = _with_defaults(config, previous.get("config"))
        if isinstance(recorded, dict) and _same_folder(recorded.get("out"), run_dir):
            recorded = {**recorded, "out": resolved.get("out")}  # the same folder, reached through a link
        changes = [c for c in _changed_fields(recorded, resolved) if c.split(":")[0] not in EXECUTION_ONLY_FIELDS]
        if changes and os.environ.get("PAVLAB_ALLOW_CONFIG_CHANGE") != "1":
            raise PavlabError("refusing to resume with a different config (" + "; ".join(changes[:5]) +
                              "); use a new --out or set PAVLAB_ALLOW_CONFIG_CHANGE=1", path=record_path)
        return run_dir
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(record_path, {"kind": kind, "config": resolved, "versions": package_versions(),
                             "git_revision": git_revision(), "started": time.strftime("%Y-%m-%dT%H:%M:%S")})
    return run_dir
