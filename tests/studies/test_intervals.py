from __future__ import annotations

import pytest

from pavlab.studies.intervals import percentile_interval


def test_percentile_interval_counts_undefined_draws_instead_of_dropping_them():
    ci, undefined = percentile_interval([1.0, 2.0, None, float("nan"), 3.0])
    assert ci == pytest.approx([1.05, 2.95]) and undefined == pytest.approx(0.4)
    assert percentile_interval([None, float("nan")]) == (None, 1.0)
