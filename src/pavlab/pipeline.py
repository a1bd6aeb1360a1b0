"""Content-cached pipeline stages: a stage reruns only when its inputs change.

A stage's folder is named by a hash of its spec (its config and the keys of the stages it
reads), so a second run with the same settings finds every finished stage and skips it, and a
changed setting gets a fresh folder instead of silently reusing stale results. A stage counts
as finished when its `DONE` marker exists; an interrupted stage resumes through the job's own
shards.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from pavlab import __version__
from pavlab.io import write_json

console = Console()


@dataclass(frozen=True)
class Stage:
    name: str
    path: Path
    key: str
    cached: bool


def stage_key(name: str, spec: dict[str, Any]) -> str:
    payload = json.dumps({"name": name, "spec": spec, "version": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:10]


def run_stage(root: Path, name: str, spec: dict[str, Any], run: Callable[[Path], Any]) -> Stage:
    """Run `run(folder)` unless a finished stage with the same spec exists under `root/stages`."""
    key = stage_key(name, spec)
    folder = Path(root) / "stages" / f"{name}-{key}"
    marker = folder / "DONE"
    if marker.exists():
        console.print(f"[dim]- {name}: cached ({folder})[/]")
        return Stage(name, folder, key, cached=True)
    console.rule(f"[bold]{name}")
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    run(folder)
    seconds = time.perf_counter() - started
    write_json(marker, {"spec": spec, "seconds": round(seconds, 1)})
    console.print(f"[green]- {name}: done in {seconds:.0f} s[/]")
    return Stage(name, folder, key, cached=False)
