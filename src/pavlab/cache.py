"""The one result cache of the applications (demo, studies): compute once per key, reuse while the key holds.

Why one module: the demo caches whole stages (a folder per stage) and the RL studies cache costly
evaluations (a JSON file per policy); both must recompute exactly when what produced a result
changes, and never silently reuse a stale one. A key is everything that produced the result;
`cached_stage` names its folder by the key's hash (a changed setting gets a fresh folder, the old
one stays), `cached_json` stores the key beside the result (a changed key overwrites it). Long jobs
that resume inside one folder use `runs.prepare_run` instead: it refuses a changed config.
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
from pavlab.io import read_json, write_json

console = Console()


@dataclass(frozen=True)
class CachedStage:
    """A finished stage folder: `key` is the hash of its spec, `cached` whether this run reused it."""

    name: str
    path: Path
    key: str
    cached: bool


def stage_key(name: str, spec: dict[str, Any]) -> str:
    payload = json.dumps({"name": name, "spec": spec, "version": __version__}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:10]


def cached_stage(root: Path, name: str, spec: dict[str, Any], run: Callable[[Path], Any]) -> CachedStage:
    """Run `run(folder)` unless a finished stage with the same spec exists under `root/stages`.

    A stage counts as finished when its `DONE` marker exists; an interrupted one reruns in the same
    folder and resumes through the job's own shards.
    """
    key = stage_key(name, spec)
    folder = Path(root) / "stages" / f"{name}-{key}"
    marker = folder / "DONE"
    if marker.exists():
        console.print(f"[dim]- {name}: cached ({folder})[/]")
        return CachedStage(name, folder, key, cached=True)
    console.rule(f"[bold]{name}")
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    run(folder)
    seconds = time.perf_counter() - started
    write_json(marker, {"spec": spec, "seconds": round(seconds, 1)})
    console.print(f"[green]- {name}: done in {seconds:.0f} s[/]")
    return CachedStage(name, folder, key, cached=False)


def cached_json(path: Path, key: dict[str, Any], compute: Callable[[], Any]) -> Any:
    """`compute()`'s result, reused from `path` when it was computed under the same `key` (else recomputed)."""
    path = Path(path)
    if path.exists():
        stored = read_json(path)
        if stored.get("key") == key:
            return stored["result"]
    result = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"key": key, "result": result})
    return result
