from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

import pavlab.verifiers.train as train_module
from pavlab.config import load_config
from pavlab.errors import PavlabError
from pavlab.io import read_jsonl
from pavlab.labeling.format import LabeledResponse
from pavlab.training import lr_factor
from pavlab.verifiers.model import ValueModel, load_tokenizer
from pavlab.verifiers.scoring import score_prefixes
from pavlab.verifiers.train import VerifierTrainConfig, train_verifier

TINY = {"hidden_size": 32, "num_layers": 2, "num_heads": 2, "intermediate_size": 64}


def synthetic_rows(n: int, seed: int) -> list[dict]:
    """Q is high once a step containing 'x' has appeared: a verifier must read the prefix to predict it."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        steps = ["".join(rng.choice("abcx" if rng.random() < 0.3 else "abc") for _ in range(3)) for _ in range(4)]
        q_hat = [0.1] + [0.9 if any("x" in s for s in steps[:h]) else 0.1 for h in range(1, 5)]
        rows.append({"problem_id": f"p{i}", "prompt": "go?", "steps": steps, "correct": q_hat[-1] > 0.5,
                     "q_hat": q_hat, "policy": "synthetic", "seed": seed, "seed_index": i})
    return rows


@pytest.fixture
def setup(tmp_path: Path, tokenizer) -> tuple[Path, Path]:
    tokenizer_dir = tmp_path / "tok"
    tokenizer.save_pretrained(tokenizer_dir)
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps(row) + "\n" for row in synthetic_rows(64, seed=0)))
    return tokenizer_dir, labels


def config(tokenizer_dir: Path, **overrides) -> VerifierTrainConfig:
    base = {"tokenizer": str(tokenizer_dir), "scratch": TINY, "lr": 3e-3, "steps": 50, "batch_size": 32,
            "warmup": 10, "max_length": 64, "device": "cpu", "prover": "bok:4"}
    return VerifierTrainConfig.model_validate({**base, **overrides})


def bce(predicted: np.ndarray, target: np.ndarray) -> float:
    predicted = np.clip(predicted, 1e-6, 1 - 1e-6)
    return float(-np.mean(target * np.log(predicted) + (1 - target) * np.log(1 - predicted)))


def test_trained_verifier_beats_a_constant_predictor(setup, tmp_path: Path) -> None:
    tokenizer_dir, labels = setup
    out = train_verifier(config(tokenizer_dir), [labels], tmp_path / "pav")
    model, tokenizer = ValueModel.from_pretrained(out), load_tokenizer(out)
    assert model.info.kind == "pav" and model.info.prover == "bok:4" and model.info.base_checkpoint == "scratch"
    held_out = [LabeledResponse(r["problem_id"], r["prompt"], r["steps"], r["correct"], r["q_hat"])
                for r in synthetic_rows(32, seed=1)]
    predicted = np.concatenate(score_prefixes(model, tokenizer, [r.prompt for r in held_out],
                                              [r.steps for r in held_out]))
    target = np.concatenate([r.q_hat for r in held_out]).astype(float)
    train_mean = np.mean([q for r in synthetic_rows(64, seed=0) for q in r["q_hat"]])
    assert bce(predicted, target) < bce(np.full_like(target, train_mean), target) - 0.2
    log = read_jsonl(out / "train_log.jsonl")
    assert [row["step"] for row in log] == list(range(1, 51))


def test_resume_reproduces_the_uninterrupted_run(setup, tmp_path: Path, monkeypatch) -> None:
    tokenizer_dir, labels = setup
    cfg = config(tokenizer_dir, steps=6, checkpoint_every=3, warmup=2)
    straight = train_verifier(cfg, [labels], tmp_path / "straight")

    real_save = train_module.save_checkpoint

    def save_then_crash(path, state):
        real_save(path, state)
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "save_checkpoint", save_then_crash)
    with pytest.raises(KeyboardInterrupt):
        train_verifier(cfg, [labels], tmp_path / "resumed")
    monkeypatch.setattr(train_module, "save_checkpoint", real_save)
    resumed = train_verifier(cfg, [labels], tmp_path / "resumed")

    assert read_jsonl(resumed / "train_log.jsonl") == read_jsonl(straight / "train_log.jsonl")
    a, b = ValueModel.from_pretrained(straight), ValueModel.from_pretrained(resumed)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert (x == y).all(), name


def test_resume_refuses_a_checkpoint_from_another_config(setup, tmp_path: Path) -> None:
    tokenizer_dir, labels = setup
    train_verifier(config(tokenizer_dir, steps=2), [labels], tmp_path / "run")
    with pytest.raises(PavlabError, match="different config \\(lr\\)"):
        train_verifier(config(tokenizer_dir, steps=2, lr=1e-2), [labels], tmp_path / "run")


def test_orm_trains_on_the_outcome_only(setup, tmp_path: Path) -> None:
    tokenizer_dir, labels = setup
    out = train_verifier(config(tokenizer_dir, kind="orm", steps=2), [labels], tmp_path / "orm")
    assert ValueModel.from_pretrained(out).info.kind == "orm"
    assert json.loads((out / "train_config.json").read_text())["labeled_positions"] == 64


def test_config_errors(tmp_path: Path, setup) -> None:
    _, labels = setup
    with pytest.raises(PavlabError, match="field 'tokenizer'"):
        train_verifier(VerifierTrainConfig(), [labels], tmp_path / "x")
    with pytest.raises(PavlabError, match="field 'prover'"):
        load_config(VerifierTrainConfig, overrides=["--prover", "bok:zero"])
    with pytest.raises(PavlabError, match="field 'kind'"):
        load_config(VerifierTrainConfig, overrides=["--kind", "reward"])


def test_lr_schedule_warms_up_then_decays() -> None:
    factors = [lr_factor(step, warmup=4, total=20, min_ratio=0.1) for step in range(20)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert all(a >= b for a, b in zip(factors[3:], factors[4:], strict=False))
    assert factors[-1] > 0.1 and lr_factor(20, 4, 20, 0.1) == pytest.approx(0.1)


def test_a_bok_pav_records_its_target_and_is_calibrated_against_bok_labels(tmp_path: Path, tokenizer) -> None:
    from pavlab.labeling.format import read_label_rows
    from pavlab.verifiers.evaluate import evaluate_verifier

    tokenizer_dir = tmp_path / "tok"
    tokenizer.save_pretrained(tokenizer_dir)
    rows = synthetic_rows(32, seed=0)
    for row in rows:  # rollout counts: 16 per state, the finished response 1
        row["n_rollouts"] = [16] * 4 + [1]
        row["q_hat"] = [round(q * 16) / 16 for q in row["q_hat"][:4]] + [float(row["correct"])]
        row["n_success"] = [round(q * n) for q, n in zip(row["q_hat"], row["n_rollouts"], strict=True)]
    labels = tmp_path / "labels.jsonl"
    labels.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = train_verifier(config(tokenizer_dir, steps=2, prover=None, target_bok=4), [labels], tmp_path / "bo4")
    model = ValueModel.from_pretrained(out)
    assert (model.info.kind, model.info.prover, model.info.target) == ("pav", "bok:4", "bok:4")
    metrics = evaluate_verifier(model, tokenizer, read_label_rows([labels]))
    assert metrics["calibration"]["target"] == "bo4_label"
    with pytest.raises(PavlabError, match="already predicts bok:4"):
        evaluate_verifier(model, tokenizer, read_label_rows([labels]), bok_k=4)


def test_a_trained_verifier_as_init_is_continued_not_restarted(setup, tmp_path: Path) -> None:
    """A later labeling round continues the earlier verifier: its first steps start from the trained loss."""
    tokenizer_dir, labels = setup
    first = train_verifier(config(tokenizer_dir), [labels], tmp_path / "round1")
    fresh_loss = read_jsonl(first / "train_log.jsonl")[0]["loss"]
    second = train_verifier(config(tokenizer_dir, init=str(first), tokenizer=None, steps=5, warmup=1, lr=1e-5),
                            [labels], tmp_path / "round2")
    continued_loss = read_jsonl(second / "train_log.jsonl")[0]["loss"]
    assert continued_loss < fresh_loss - 0.1
    model = ValueModel.from_pretrained(second)
    assert model.info.kind == "pav" and model.info.base_checkpoint == "scratch"
    with pytest.raises(PavlabError, match="pav verifier") as error:
        train_verifier(config(tokenizer_dir, init=str(first), tokenizer=None, kind="prm"), [labels], tmp_path / "r3")
    assert error.value.field == "init"
