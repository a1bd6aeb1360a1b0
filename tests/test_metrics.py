import pytest

from pavlab.metrics import majority_at_k, pass_at_k, summarize_samples


def test_pass_at_k_matches_hand_values():
    assert pass_at_k(4, 0, 2) == 0.0
    assert pass_at_k(4, 1, 1) == pytest.approx(0.25)
    assert pass_at_k(4, 1, 2) == pytest.approx(0.5)
    assert pass_at_k(4, 3, 2) == 1.0


def test_majority_vote():
    answers = ["1", "2", "2", None]
    correct = [True, False, False, False]
    assert majority_at_k(answers, correct, 4) == 0.0
    assert majority_at_k(["1", "1", "2"], [True, True, False], 3) == 1.0


def test_summary_keys():
    rows = [{"problem_id": "a", "correct": i == 0, "answer": str(i)} for i in range(4)]
    summary = summarize_samples(rows)
    assert summary["pass@1"] == pytest.approx(0.25) and summary["pass@4"] == 1.0
    assert "maj@2" in summary
    assert "mean_steps" not in summary  # rows without steps (a user's file) report none


def test_summary_reports_mean_steps_when_rows_have_them():
    rows = [{"problem_id": "a", "correct": False, "steps": ["x"] * k} for k in (2, 4, 6)]
    assert summarize_samples(rows)["mean_steps"] == 4.0
