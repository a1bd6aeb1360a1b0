"""Figures shared by the studies: mean curves with a seed-spread band, one per arm.

Why one helper: every study compares arms over several seeds, and the figures should read the
same way everywhere (mean line, min-max band over seeds, same labels and file format).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np


def plot_seed_curves(path: Path, curves: Mapping[str, tuple[Sequence[float], Sequence[Sequence[float]]]], *,
                     xlabel: str, ylabel: str, title: str, logx: bool = False) -> Path:
    """Plot `curves[label] = (x, per-seed ys)` as the seed mean with a min-max band; saves a PNG at `path`.

    `logx` puts x on a log-2 scale, how the paper draws accuracy against a compute budget.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.2))
    for label, (x, ys) in curves.items():
        values = np.asarray(ys, dtype=float)
        line, = axes.plot(x, values.mean(axis=0), label=f"{label} (n={len(values)})")
        axes.fill_between(x, values.min(axis=0), values.max(axis=0), color=line.get_color(), alpha=0.2)
    if logx:
        axes.set_xscale("log", base=2)
    return save_figure(figure, axes, path, xlabel=xlabel, ylabel=ylabel, title=title)


def save_figure(figure: Any, axes: Any, path: Path, *, xlabel: str, ylabel: str, title: str) -> Path:
    """Label, grid and legend `axes` the studies' one way, then save `figure` as a PNG at `path` and close it."""
    import matplotlib.pyplot as plt

    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return Path(path)
