"""Peak memory (max RSS) of labeling and search at 1k vs 10k problems: it should stay flat.

Why: a job that streams chunks to shards holds one chunk at a time, so 10x the problems should
cost ~1x the memory; growth means something accumulates every row. Each (job, size) runs in a
fresh child process (`resource.getrusage(RUSAGE_CHILDREN)` after it exits), on the planted task
with procedural policies, so no model weights blur the picture.

Run: `.venv/bin/python benchmarks/memory.py [--quick]`; last line:
`peak_memory_growth_1k_to_10k: X (target ~1.0x)` (X: the worst job's 10k/1k ratio of max RSS).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = """
import importlib, json, resource, sys
from pavlab.config import load_config
module, cls, run = {"label": ("pavlab.labeling.run", "LabelConfig", "run_labeling"),
                    "search": ("pavlab.search.run", "SearchConfig", "run_search")}[sys.argv[1]]
module = importlib.import_module(module)
getattr(module, run)(load_config(getattr(module, cls), overrides=json.loads(sys.argv[2])))
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def job_overrides(kind: str, problems: int, quick: bool, out: Path) -> dict:
    """Tiny per-problem work (quick: 2-step responses) so the problem count is what varies."""
    common = {"task": {"name": "planted"}, "policy": "mu:5", "problems": problems, "chunk_problems": 100,
              "generation": {"max_new_tokens": 2 if quick else 10}, "out": str(out)}
    if kind == "label":
        return {**common, "rollout_policy": "mu:10", "n_cov": 1, "n_mc": 2}
    return {**common, "method": "majority", "n": 4, "split": "train"}


def peak_rss_mib(kind: str, problems: int, quick: bool, folder: Path) -> tuple[float, float]:
    """(max RSS in MiB, seconds) of one job in a fresh process."""
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CHILD, kind,
                          json.dumps(job_overrides(kind, problems, quick, folder / f"{kind}-{problems}"))],
                         capture_output=True, text=True, check=True)
    return int(out.stdout.split()[-1]) / 1024, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="2-step responses (under a minute)")
    args = parser.parse_args()
    growth = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("label", "search"):
            small, t_small = peak_rss_mib(kind, 1_000, args.quick, Path(tmp))
            large, t_large = peak_rss_mib(kind, 10_000, args.quick, Path(tmp))
            growth = max(growth, large / small)
            print(f"{kind:7s} 1k problems: {small:7.1f} MiB ({t_small:4.1f}s)   "
                  f"10k problems: {large:7.1f} MiB ({t_large:4.1f}s)   growth {large / small:.2f}x "
                  f"(+{large - small:.1f} MiB)", flush=True)
    print(f"peak_memory_growth_1k_to_10k: {growth:.2f}x (target ~1.0x)")


if __name__ == "__main__":
    main()
