"""How good predicted probabilities are: calibration (ECE, Brier, reliability bins) and ranking (AUC).

Targets may be soft (a Monte Carlo success rate q_hat) or hard (0/1): a value model is trained
to output Q, so it is calibrated when, among prefixes it scores near p, the mean label is near p.
AUC is computed from ranks (Mann-Whitney U), so it needs no extra dependency and handles ties.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _pair(predicted: np.ndarray | list[float], target: np.ndarray | list[float]) -> tuple[np.ndarray, np.ndarray]:
    p, t = np.asarray(predicted, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if p.shape != t.shape or p.ndim != 1:
        raise ValueError(f"predicted {p.shape} and target {t.shape} must be 1-D and of equal length")
    return p, t


@dataclass
class ReliabilityBins:
    """Equal-width bins on [0, 1]: per bin, how many predictions fell in it, their mean and the mean label."""

    edges: np.ndarray
    counts: np.ndarray
    mean_predicted: np.ndarray
    mean_target: np.ndarray

    def to_dict(self) -> dict[str, list[float]]:
        return {"edges": self.edges.tolist(), "counts": self.counts.tolist(),
                "mean_predicted": self.mean_predicted.tolist(), "mean_target": self.mean_target.tolist()}


def reliability_bins(predicted: np.ndarray | list[float], target: np.ndarray | list[float],
                     bins: int = 10) -> ReliabilityBins:
    """Bin i holds predictions in [i/bins, (i+1)/bins); the last bin also holds 1.0. Empty bins have NaN means."""
    if bins < 1:
        raise ValueError("bins must be at least 1")
    p, t = _pair(predicted, target)
    index = np.clip((p * bins).astype(int), 0, bins - 1)
    counts = np.bincount(index, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.bincount(index, weights=p, minlength=bins) / counts
        mean_t = np.bincount(index, weights=t, minlength=bins) / counts
    return ReliabilityBins(np.linspace(0.0, 1.0, bins + 1), counts, mean_p, mean_t)


def expected_calibration_error(predicted: np.ndarray | list[float], target: np.ndarray | list[float],
                               bins: int = 10) -> float:
    """Sum over bins of (bin share) * |mean prediction - mean label|."""
    table = reliability_bins(predicted, target, bins)
    filled = table.counts > 0
    if not filled.any():
        return float("nan")
    gaps = np.abs(table.mean_predicted[filled] - table.mean_target[filled])
    return float(np.sum(table.counts[filled] * gaps) / table.counts.sum())


def brier_score(predicted: np.ndarray | list[float], target: np.ndarray | list[float]) -> float:
    """Mean squared error between predictions and (soft) labels."""
    p, t = _pair(predicted, target)
    return float(np.mean((p - t) ** 2)) if p.size else float("nan")


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks; tied values share the mean of the ranks they span."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(len(values), dtype=np.float64)
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2.0 + 1.0
        start = end + 1
    return ranks


def roc_auc(scores: np.ndarray | list[float], positives: np.ndarray | list[bool]) -> float:
    """Chance that a random positive scores above a random negative (ties count half); NaN if a class is empty."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(positives, dtype=bool)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"scores {s.shape} and labels {y.shape} must be 1-D and of equal length")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    rank_sum = average_ranks(s)[y].sum()
    return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def bootstrap_auc_ci(scores: np.ndarray | list[float], positives: np.ndarray | list[bool],
                     groups: np.ndarray | list[int] | None = None, resamples: int = 1000,
                     seed: int = 0) -> list[float] | None:
    """95% percentile interval of `roc_auc` over resampled groups (responses), or None when undefined.

    Why groups: the prefixes of one response are not independent draws, so a dead-end AUC over
    prefixes is resampled response by response (a cluster bootstrap), not prefix by prefix.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(positives, dtype=bool)
    g = np.arange(len(s)) if groups is None else np.asarray(groups)
    members = [np.flatnonzero(g == key) for key in np.unique(g)]
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        picked = np.concatenate([members[i] for i in rng.integers(len(members), size=len(members))])
        auc = roc_auc(s[picked], y[picked])
        if np.isfinite(auc):
            values.append(auc)
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))] if values else None
