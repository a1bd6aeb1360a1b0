from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from pavlab.errors import PavlabError
from pavlab.labeling.format import LabeledResponse
from pavlab.verifiers.calibration import (
    average_ranks,
    brier_score,
    expected_calibration_error,
    reliability_bins,
    roc_auc,
)
from pavlab.verifiers.evaluate import (
    EvalVerifierConfig,
    calibration_pairs,
    countdown_oracle,
    evaluate_verifier,
    first_error_metrics,
    json_ready,
    oracle_metrics,
    predicted_first_error,
    prover_advantages,
    run_eval_verifier,
    transform_prover,
    true_first_error,
)
from pavlab.verifiers.model import VerifierInfo
from pavlab.verifiers.progress import bok_label
from pavlab.verifiers.scoring import score_prefixes


def response(steps: list[str], correct: bool, q_hat: list[float | None] | None = None,
             prompt: str = "2 3 4 -> 20") -> LabeledResponse:
    return LabeledResponse("p", prompt, steps, correct, q_hat if q_hat is not None else [None] * (len(steps) + 1))


def test_ece_and_brier_match_hand_computed_values() -> None:
    predicted, target = [0.05, 0.15, 0.95, 0.92], [0.0, 1.0, 1.0, 0.5]
    # bins 0, 1, 9 hold gaps 0.05, 0.85 and |0.935 - 0.75| = 0.185 (two states)
    assert expected_calibration_error(predicted, target, bins=10) == pytest.approx((0.05 + 0.85 + 2 * 0.185) / 4)
    assert brier_score(predicted, target) == pytest.approx((0.05**2 + 0.85**2 + 0.05**2 + 0.42**2) / 4)
    assert expected_calibration_error([0.3, 0.7], [0.3, 0.7]) == pytest.approx(0.0)
    assert expected_calibration_error([0.2, 0.8], [0.0, 1.0], bins=1) == pytest.approx(0.0)


def test_reliability_bins_put_one_in_the_last_bin_and_leave_empty_bins_nan() -> None:
    table = reliability_bins([1.0, 0.0, 0.55], [1.0, 0.0, 0.0], bins=4)
    assert table.counts.tolist() == [1, 0, 1, 1]
    assert math.isnan(table.mean_target[1]) and table.mean_target[3] == 1.0
    assert json_ready(table.to_dict())["mean_target"][1] is None


def test_auc_counts_pairs_and_half_ties() -> None:
    assert roc_auc([0.1, 0.4, 0.35, 0.8], [False, False, True, True]) == pytest.approx(0.75)
    assert roc_auc([0.5, 0.5, 0.2, 0.9], [True, False, False, True]) == pytest.approx(0.875)
    assert roc_auc([0.9, 0.1], [False, True]) == 0.0
    assert math.isnan(roc_auc([0.3, 0.4], [True, True]))
    assert average_ranks(np.array([3.0, 1.0, 3.0, 2.0])).tolist() == [3.5, 1.0, 3.5, 2.0]


def test_first_error_rules_and_processbench_scores() -> None:
    values = np.array([0.6, 0.7, 0.45, 0.1])  # advantages 0.1, -0.25, -0.35
    assert predicted_first_error(values, np.diff(values), "value", 0.5) == 2
    assert predicted_first_error(values, np.diff(values), "advantage", -0.3) == 3
    assert predicted_first_error(values, np.diff(values), "value", 0.05) is None
    assert true_first_error([True, True, False, False]) == 2 and true_first_error([True, True]) is None
    # erroneous: hit, miss (flagged too late), miss (nothing flagged); correct: clean, false alarm
    scores = first_error_metrics([2, 3, None, None, 1], [2, 1, 1, None, None])
    assert scores["accuracy_erroneous"] == pytest.approx(1 / 3) and scores["accuracy_correct"] == pytest.approx(0.5)
    assert scores["f1"] == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))
    assert (scores["erroneous"], scores["correct"]) == (3, 2)


def test_bok_prover_advantages_are_those_of_the_transformed_values() -> None:
    values = np.array([0.5, 0.2])
    assert prover_advantages(values, "bok:2") == pytest.approx([(1 - 0.8**2) - (1 - 0.5**2)])
    assert prover_advantages(values, None) == pytest.approx([-0.3])


def test_countdown_oracle_finds_dead_prefixes() -> None:
    assert countdown_oracle(response(["2 + 3 = 5", "5 * 4 = 20"], True)) == [True, True, True]
    assert countdown_oracle(response(["3 * 4 = 12", "12 + 2 = 14"], False)) == [True, False, False]
    assert countdown_oracle(response(["2 + 3 = 5", "5 + 4 = 9"], False)) == [True, True, False]
    with pytest.raises(PavlabError, match="not a countdown question"):
        countdown_oracle(response(["x"], False, prompt="what is 2+2?"))


def test_oracle_metrics_on_a_hand_built_set() -> None:
    responses = [response(["2 + 3 = 5", "5 * 4 = 20"], True),     # correct
                 response(["3 * 4 = 12", "12 + 2 = 14"], False),  # first error at step 1
                 response(["2 + 3 = 5", "5 + 4 = 9"], False),     # first error at step 2
                 response(["2 + 3 = 5"], False)]                  # stopped early: no error step, skipped
    values = [np.array([0.5, 0.8, 0.9]), np.array([0.5, 0.3, 0.2]), np.array([0.5, 0.45, 0.1]), np.array([0.5, 0.6])]
    metrics = oracle_metrics(responses, values, countdown_oracle, None, value_threshold=0.5, advantage_threshold=-0.2)
    # live step prefixes score 0.8, 0.9, 0.45, 0.6; dead ones 0.3, 0.2, 0.1: 0.45 and 0.6 still beat every dead one
    assert metrics["dead_end_auc"] == 1.0 and (metrics["prefixes"], metrics["dead_prefixes"]) == (7, 3)
    assert metrics["skipped_responses"] == 1
    value_rule = metrics["first_error"]["value"]
    # value rule flags step 1 of the third response (0.45 < 0.5), one step early
    assert (value_rule["accuracy_erroneous"], value_rule["accuracy_correct"]) == (0.5, 1.0)
    advantage_rule = metrics["first_error"]["advantage"]
    # advantages: [-0.2, -0.1] (not below -0.2) and [-0.05, -0.35]: flags nothing, then step 2
    assert (advantage_rule["accuracy_erroneous"], advantage_rule["accuracy_correct"]) == (0.5, 1.0)
    # steps from live states: keep alive +0.3, +0.1, -0.05, +0.1; dead-end -0.2, -0.35 (the step after a dead
    # state is left out: nothing to lose there)
    assert metrics["dead_end_step_auc"] == 1.0 and metrics["dead_end_steps"] == 2


def test_step_advantages_rank_dead_ends_worse_than_values_when_values_are_noisy() -> None:
    responses = [response(["2 + 3 = 5", "5 * 4 = 20"], True), response(["3 * 4 = 12", "12 + 2 = 14"], False),
                 response(["2 + 3 = 5", "5 + 4 = 9"], False)]
    values = [np.array([0.5, 0.1, 0.9]), np.array([0.5, 0.3, 0.2]), np.array([0.5, 0.45, 0.1])]
    metrics = oracle_metrics(responses, values, countdown_oracle, None, value_threshold=0.5, advantage_threshold=-0.2)
    # keep-alive steps -0.4, +0.8, -0.05 against dead-end steps -0.2, -0.35: 4 of 6 pairs in order
    assert metrics["dead_end_step_auc"] == pytest.approx(4 / 6)


def test_a_verifier_trained_on_bok_values_is_not_transformed_again() -> None:
    assert transform_prover(VerifierInfo(kind="pav", prover="bok:4", target="bok:4")) is None
    assert transform_prover(VerifierInfo(kind="prm", prover="bok:4")) == "bok:4"
    assert transform_prover(VerifierInfo(kind="orm")) is None


def test_calibration_pairs_use_q_hat_or_the_outcome() -> None:
    rows = [response(["a", "b"], True, [0.5, None, 1.0]), response(["c"], False, [0.25, 0.0])]
    values = [np.array([0.4, 0.6, 0.9]), np.array([0.3, 0.2])]
    predicted, target = calibration_pairs(rows, values, "pav")
    assert predicted.tolist() == [0.4, 0.9, 0.3, 0.2] and target.tolist() == [0.5, 1.0, 0.25, 0.0]
    predicted, target = calibration_pairs(rows, values, "orm")
    assert predicted.tolist() == [0.9, 0.2] and target.tolist() == [1.0, 0.0]


def test_bok_calibration_reads_the_pav_against_unbiased_bok_labels() -> None:
    rows = [response(["a"], True, [0.5, 0.25]), response(["b"], False, [0.5, 0.0])]
    rows[0].n_rollouts, rows[1].n_rollouts = [4, 4], [2, 4]  # the 2-rollout state cannot estimate Bo4
    values = [np.array([0.5, 0.2]), np.array([0.6, 0.1])]
    predicted, target = calibration_pairs(rows, values, "prm", bok_k=4)
    assert predicted.tolist() == pytest.approx([1 - 0.5 ** 4, 1 - 0.8 ** 4, 1 - 0.9 ** 4])
    assert target.tolist() == [1.0, 1.0, 0.0]  # 4 of 4 rollouts drawn: BoK succeeds iff any succeeded
    # with n > k the label is 1 - C(n-s, k)/C(n, k): 16 rollouts, 2 successes, k = 4
    assert bok_label(2 / 16, 16, 4) == pytest.approx(1 - 1001 / 1820)
    rng = np.random.default_rng(0)  # unbiased: its mean over many draws is 1 - (1 - q)^k
    draws = rng.binomial(16, 0.1, size=20000)
    assert np.mean([bok_label(s / 16, 16, 4) for s in draws]) == pytest.approx(1 - 0.9 ** 4, abs=0.01)


def test_evaluate_verifier_scores_with_the_model(tokenizer, value_model) -> None:
    rows = [response(["2 + 3 = 5", "5 * 4 = 20"], True, [0.5, 0.9, 1.0]),
            response(["3 * 4 = 12", "12 + 2 = 14"], False, [0.5, 0.0, 0.0])]
    metrics = evaluate_verifier(value_model, tokenizer, rows, countdown_oracle, bins=5)
    values = score_prefixes(value_model, tokenizer, [r.prompt for r in rows], [r.steps for r in rows])
    predicted = np.concatenate(values)
    target = [0.5, 0.9, 1.0, 0.5, 0.0, 0.0]
    assert metrics["calibration"]["ece"] == pytest.approx(expected_calibration_error(predicted, target, bins=5))
    assert metrics["calibration"]["brier"] == pytest.approx(brier_score(predicted, target))
    assert metrics["outcome_auc"] == (1.0 if values[0][-1] > values[1][-1] else 0.0)
    assert metrics["oracle"]["first_error"]["value"]["erroneous"] == 1
    with pytest.raises(PavlabError, match="no labeled responses"):
        evaluate_verifier(value_model, tokenizer, [])


def test_run_eval_verifier_writes_strict_json_and_a_png(tmp_path: Path, tokenizer, value_model) -> None:
    value_model.save_pretrained(tmp_path / "verifier", tokenizer=tokenizer)
    run = tmp_path / "run"
    (run / "labels").mkdir(parents=True)
    rows = [{"problem_id": "a", "prompt": "2 3 4 -> 20", "steps": ["2 + 3 = 5", "5 * 4 = 20"], "correct": True,
             "q_hat": [0.5, 1.0, 1.0]}]
    (run / "labels" / "shard-00000.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config = EvalVerifierConfig(verifier=str(tmp_path / "verifier"), labels=str(run), out=tmp_path / "eval")
    metrics_file = run_eval_verifier(config)
    written = json.loads((tmp_path / "eval" / "metrics.json").read_text(), parse_constant=pytest.fail)
    assert metrics_file == tmp_path / "eval" / "metrics.json" and written["outcome_auc"] is None  # one class only
    assert (tmp_path / "eval" / "reliability.png").read_bytes()[:4] == b"\x89PNG"


def test_the_labels_own_dead_end_auc_is_reported_beside_the_verifiers() -> None:
    responses = [response(["2 + 3 = 5", "5 * 4 = 20"], True, [0.4, 0.5, 1.0]),
                 response(["3 * 4 = 12", "12 + 2 = 14"], False, [0.4, 0.0, 0.0]),
                 response(["2 + 3 = 5", "5 + 4 = 9"], False, [0.4, 0.6, None])]  # a state without rollouts is skipped
    values = [np.array([0.5, 0.1, 0.9]), np.array([0.5, 0.3, 0.2]), np.array([0.5, 0.45, 0.1])]
    metrics = oracle_metrics(responses, values, countdown_oracle, None, value_threshold=0.5, advantage_threshold=-0.2)
    # labeled states: alive 0.5, 1.0, 0.6 and dead 0.0, 0.0: the labels rank every dead state last
    assert metrics["label_dead_end_auc"] == 1.0 and metrics["dead_end_auc"] < 1.0
    unlabeled = oracle_metrics(responses[:1] + [response(["3 * 4 = 12"], False)], [values[0], np.array([0.5, 0.3])],
                               countdown_oracle, None, value_threshold=0.5, advantage_threshold=-0.2)
    assert unlabeled["label_dead_end_auc"] != unlabeled["label_dead_end_auc"]  # NaN: the labeled states are all alive
