"""The GPU check's figures (scripts/gpu_check.sh), read back from what its stages wrote under OUT.

Prints one `name: value` line per figure and writes them to OUT/metrics.txt and OUT/metrics.json:
tokens/s of the sample stage (generated tokens over the stage's wall time, the vLLM engine's start
included), labeled prefixes/s of the label stage (prefixes with an MC value over the stage's wall
time), accuracies, each stage's seconds, and the verl run's steps and seconds per step when it ran.
Exits 1 when an output the check needs is missing. Usage: python scripts/gpu_check_report.py OUT
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def stage_seconds(recipe_dir: Path) -> dict[str, float]:
    record = json.loads((recipe_dir / "recipe_run.json").read_text(encoding="utf-8"))
    return {stage["name"]: float(stage["seconds"]) for stage in record["stages"] if not stage["skipped"]}


def verl_figures(log: Path) -> dict[str, float]:
    """Steps verl logged (`step:N - ...` lines) and its mean `timing_s/step`."""
    text = log.read_text(encoding="utf-8", errors="replace")
    steps = [int(match) for match in re.findall(r"(?<![\w/])step:(\d+)\b", text)]
    timings = [float(match) for match in re.findall(r"timing_s/step:([0-9.eE+-]+)", text)]
    figures: dict[str, float] = {"verl_steps": max(steps, default=0)}
    if timings:
        figures["verl_seconds_per_step"] = round(sum(timings) / len(timings), 2)
    return figures


def figures(out: Path, backend: str = "vllm") -> dict[str, float]:
    recipe = out / "recipe"
    seconds = stage_seconds(recipe)
    samples = read_jsonl(recipe / "samples.jsonl")
    labels = [row for shard in sorted((recipe / "labels" / "labels").glob("*.jsonl")) for row in read_jsonl(shard)]
    prefixes = sum(value is not None for row in labels for value in row["q_hat"])
    search = json.loads((recipe / "search" / "summary.json").read_text(encoding="utf-8"))
    result: dict[str, float] = {}
    if "sample" in seconds:
        tokens = sum(r["generated_tokens"] for r in samples)
        result[f"{backend}_sample_tokens_per_s"] = round(tokens / seconds["sample"], 1)
    if "label" in seconds:
        result[f"{backend}_labeled_prefixes_per_s"] = round(prefixes / seconds["label"], 2)
    result.update({"sample_accuracy": round(sum(bool(r["correct"]) for r in samples) / len(samples), 4),
                   "labeled_prefixes": prefixes, "search_accuracy": round(float(search.get("accuracy", 0.0)), 4)})
    result.update({f"{name}_seconds": value for name, value in seconds.items()})
    log = out / "logs" / "verl_train.log"
    if log.is_file():
        result.update(verl_figures(log))
    return result


def main(argv: list[str]) -> int:
    backend = "vllm"
    if len(argv) == 3 and argv[1] == "--backend" and argv[2] in ("vllm", "hf"):
        backend = argv[2]
    elif len(argv) != 1:
        print("usage: python scripts/gpu_check_report.py OUT [--backend vllm|hf]", file=sys.stderr)
        return 2
    out = Path(argv[0])
    try:
        result = figures(out, backend)
    except (OSError, KeyError, ValueError, ZeroDivisionError) as exc:
        print(f"gpu_check_report: cannot read the check's outputs under {out}: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 1
    lines = [f"{name}: {value}" for name, value in result.items()]
    (out / "metrics.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "metrics.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
