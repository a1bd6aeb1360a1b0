"""Percentile intervals of bootstrap draws in which a statistic may be undefined.

Why one helper: a sample-efficiency ratio or a compute ratio is undefined in some resamples (one arm never
reaches the level asked). Every study reports those draws as a share beside the interval instead of
dropping them silently, and must count them the same way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def percentile_interval(values: Sequence[float | None]) -> tuple[list[float] | None, float]:
    """95% percentile interval of the defined draws (not None, finite), or None when no draw is defined, and
    the share of draws where the statistic was undefined."""
    defined = [value for value in values if value is not None and np.isfinite(value)]
    undefined_share = float(1 - len(defined) / len(values))
    return ([float(np.percentile(defined, 2.5)), float(np.percentile(defined, 97.5))] if defined else None,
            undefined_share)
