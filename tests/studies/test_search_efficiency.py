"""The compute-efficiency readings and the study choices, on hand-made curves with known answers."""

from __future__ import annotations

import math

import pytest

from pavlab.studies.search_alpha import choose_alpha
from pavlab.studies.search_efficiency import accuracy_at, compute_to_reach, efficiency
from pavlab.studies.search_provers import beats_everywhere, best_prover_per_n

ORM = ([1.0, 2.0, 4.0, 8.0], [0.1, 0.2, 0.3, 0.4])


def test_ratio_interpolates_on_log_compute():
    pav = ([2.0, 4.0, 8.0, 16.0], [0.2, 0.3, 0.5, 0.6])
    result = efficiency(ORM, pav)
    # 0.4 is halfway from 0.3 (at 4) to 0.5 (at 8): on a log axis that is sqrt(32)
    assert result["method_compute"] == pytest.approx(math.sqrt(32))
    assert result["ratio"] == pytest.approx(8 / math.sqrt(32))
    assert result["bound"] == "exact"
    assert result["gain"] == pytest.approx(0.1)  # PAV at compute 8 is 0.5 vs ORM's 0.4


def test_ratio_bounds_and_misses():
    early = efficiency(ORM, ([1.0, 4.0], [0.5, 0.7]))
    assert (early["ratio"], early["bound"]) == (8.0, "at_least")
    assert early["gain"] is None  # compute 8 is outside [1, 4]: no reading at equal compute
    never = efficiency(ORM, ([1.0, 64.0], [0.1, 0.35]))
    assert (never["ratio"], never["bound"], never["method_compute"]) == (None, "unreached", None)
    assert never["gain"] == pytest.approx(0.1 + 0.25 * 0.5 - 0.4)  # log2(8)/log2(64) = 1/2 of the way
    zero = efficiency(([1.0, 8.0], [0.0, 0.0]), ([2.0, 16.0], [0.0, 0.1]))
    assert (zero["ratio"], zero["bound"], zero["gain"]) == (None, "trivial", pytest.approx(0.1 * 2 / 3))


def test_readings_sort_points_and_reject_bad_curves():
    assert accuracy_at([4.0, 1.0], [0.4, 0.2], 2.0) == pytest.approx(0.3)
    assert accuracy_at([1.0, 4.0], [0.2, 0.4], 8.0) is None
    assert compute_to_reach([8.0, 2.0], [0.6, 0.2], 0.4) == (pytest.approx(4.0), "exact")
    with pytest.raises(ValueError):
        compute_to_reach([0.0, 1.0], [0.1, 0.2], 0.1)
    with pytest.raises(ValueError):
        accuracy_at([1.0], [0.1, 0.2], 1.0)


def test_alpha_and_prover_choices():
    assert choose_alpha([0.0, 0.1, 0.2, 0.3], [0.30, 0.50, 0.40, 0.50]) == 0.1  # argmax, first on ties
    means = {"bok:2": [0.1, 0.3], "bok:4": [0.2, 0.3], "bok:32": [0.0, 0.1]}
    assert best_prover_per_n(means, [1, 4]) == {1: "bok:4", 4: "bok:2"}
    assert beats_everywhere(means, "bok:4", "bok:32") is True
    assert beats_everywhere(means, "bok:4", "bok:2") is False
    assert beats_everywhere(means, "bok:4", "bok:8") is None
