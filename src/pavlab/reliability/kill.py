"""SIGKILL a job at random moments, rerun it until it finishes, and compare with an uninterrupted run.

Why: "resumable" is only true if a kill at *any* instant (mid-chunk, mid-write, mid-checkpoint)
leaves files that the next run picks up without losing, duplicating or corrupting anything.
Random (seeded) kill times probe those instants; the comparison is on parsed file contents, so
a half-written file fails loudly instead of being silently skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class HarnessError(AssertionError):
    """A job failed, hung, left an unparseable file, or resumed to a different result."""


@dataclass(frozen=True)
class Job:
    """One job kind: its command line for an output folder, and which output files must match exactly."""

    name: str
    argv: Callable[[Path], list[str]]
    compared: tuple[str, ...]  # glob patterns (relative to the output folder) whose parsed contents must match
    ignored_keys: frozenset[str] = frozenset({"started", "out"})  # keys that legitimately differ between folders


@dataclass
class KillReport:
    job: str
    kills: int = 0
    runs: int = 0
    trials: int = 0
    seconds: float = 0.0
    leftover_temp_files: int = 0
    mismatches: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (f"{self.job}: {self.kills} kills survived over {self.trials} trials ({self.runs} runs, "
                f"{self.seconds:.0f}s), mismatches: {len(self.mismatches)}, "
                f"leftover temp files: {self.leftover_temp_files}")


def _run(argv: list[str], cwd: Path, timeout: float, kill_after: float | None) -> bool:
    """Run once; SIGKILL the whole process group after `kill_after` seconds. True if it was killed."""
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        _, err = proc.communicate(timeout=timeout if kill_after is None else min(kill_after, timeout))
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        if kill_after is None or kill_after >= timeout:
            raise HarnessError(f"hang: {' '.join(argv)} ran past {timeout:.0f}s") from None
        return True
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-5:]
        raise HarnessError(f"exit {proc.returncode}: {' '.join(argv)}\n" + "\n".join(tail))
    return False


def _parsed(path: Path, ignored: frozenset[str]) -> Any:
    """File contents in comparable form; raises HarnessError if the file does not parse."""
    try:
        if path.suffix == ".jsonl":
            return [_drop(json.loads(line), ignored) for line in path.read_text().splitlines() if line.strip()]
        if path.suffix == ".json":
            return _drop(json.loads(path.read_text()), ignored)
        if path.suffix == ".safetensors":
            from safetensors.numpy import load_file

            return {k: hashlib.sha256(v.tobytes()).hexdigest() for k, v in sorted(load_file(path).items())}
        if path.suffix == ".pt":
            import torch

            torch.load(path, map_location="cpu", weights_only=True)  # must load, without unpickling code
            return None
    except Exception as exc:  # any parse failure means a corrupt file
        raise HarnessError(f"corrupt file {path}: {type(exc).__name__}: {exc}") from None
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _drop(value: Any, ignored: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: _drop(v, ignored) for k, v in value.items()
                if k not in ignored and "seconds" not in k}  # timings vary
    return value


def parse_all(out: Path, ignored: frozenset[str]) -> tuple[dict[str, Any], int]:
    """Parse every visible file under `out` (each must parse); also count orphaned temp files."""
    contents: dict[str, Any] = {}
    temps = 0
    for path in sorted(out.rglob("*")) if out.exists() else []:
        if not path.is_file():
            continue
        if any(part.startswith(".") for part in path.relative_to(out).parts):
            temps += 1  # an atomic write's temp file, orphaned by a kill; pavlab never reads it
            continue
        contents[str(path.relative_to(out))] = _parsed(path, ignored)
    return contents, temps


def snapshot(out: Path, job: Job) -> tuple[dict[str, Any], int]:
    """The job's compared outputs (every other file must still parse) and the temp-file count."""
    contents, temps = parse_all(out, job.ignored_keys)
    compared = {str(p.relative_to(out)) for pattern in job.compared for p in out.glob(pattern)}
    if not compared:
        raise HarnessError(f"{job.name}: no output matched {job.compared} under {out}")
    return {k: v for k, v in contents.items() if k in compared}, temps


def _diff(expected: dict[str, Any], got: dict[str, Any]) -> list[str]:
    problems = [f"missing {k}" for k in expected if k not in got] + [f"extra {k}" for k in got if k not in expected]
    for key in expected.keys() & got.keys():
        if expected[key] != got[key]:
            a, b = expected[key], got[key]
            detail = f" ({len(a)} vs {len(b)} rows)" if isinstance(a, list) and isinstance(b, list) else ""
            problems.append(f"differs: {key}{detail}")
    return problems


def kill_test(job: Job, workdir: Path, kills: int, seed: int = 0, max_kills_per_trial: int = 6,
              timeout: float = 300.0, budget_s: float | None = None) -> KillReport:
    """Kill `job` at least `kills` times (seeded random instants) and check every resumed result.

    Each trial starts a fresh folder and kills up to `max_kills_per_trial` runs at a uniformly random
    time within 3/4 of the reference run's duration, then lets one run finish. `budget_s` stops early (the
    report says how many kills were done).
    """
    workdir = workdir.resolve()
    rng = random.Random(seed)
    report = KillReport(job.name)
    started = time.perf_counter()
    reference = workdir / f"{job.name}-reference"
    t0 = time.perf_counter()
    _run(job.argv(reference), workdir, timeout, None)
    duration = time.perf_counter() - t0
    expected, _ = snapshot(reference, job)
    while report.kills < kills and (budget_s is None or time.perf_counter() - started < budget_s):
        report.trials += 1
        out = workdir / f"{job.name}-trial{report.trials}"
        trial_kills = 0
        while True:
            report.runs += 1
            # Up to 3/4 of a full run: a resumed run has less left, so late kills still hit its final writes.
            kill_after = rng.uniform(0.05, 0.75) * duration if trial_kills < max_kills_per_trial else None
            if not _run(job.argv(out), workdir, timeout, kill_after):
                break
            trial_kills += 1
            parse_all(out, job.ignored_keys)  # what a kill leaves behind must already be readable
        report.kills += trial_kills
        got, temps = snapshot(out, job)
        report.leftover_temp_files += temps
        report.mismatches += [f"trial {report.trials}: {m}" for m in _diff(expected, got)]
    report.seconds = time.perf_counter() - started
    return report
