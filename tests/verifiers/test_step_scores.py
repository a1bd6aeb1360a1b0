from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pavlab.errors import PavlabError
from pavlab.policies.prover_spec import Prover
from pavlab.verifiers.progress import advantages, bok_values, effective_rewards
from pavlab.verifiers.scoring import score_prefixes
from pavlab.verifiers.step_scores import ProcessVerifier

PROMPTS = ["2+3?", "9-4?"]
STEPS = [["2+3=5.", "answer 5."], ["9-4=6.", "6-1=5.", "answer 5."]]


def test_bok_values() -> None:
    q = np.array([0.0, 0.2, 0.5, 1.0])
    np.testing.assert_allclose(bok_values(q, 1), q)
    np.testing.assert_allclose(bok_values(q, 4), [0.0, 1 - 0.8**4, 1 - 0.5**4, 1.0])
    assert np.all(bok_values(q, 8) >= bok_values(q, 4))


def test_advantages_and_effective_rewards() -> None:
    q_pi = np.array([0.2, 0.4, 0.3, 0.9])
    q_mu = np.array([0.5, 0.6, 0.6, 1.0])
    np.testing.assert_allclose(advantages(q_mu), [0.1, 0.0, 0.4])
    np.testing.assert_allclose(effective_rewards(q_pi, q_mu, 0.5), [0.45, 0.3, 1.1])
    np.testing.assert_allclose(effective_rewards(q_pi, q_mu, 0.0), q_pi[1:])
    with pytest.raises(ValueError):
        effective_rewards(q_pi, q_mu[:-1], 1.0)


@pytest.mark.parametrize("spec, expected", [("bok:4", Prover("bok", k=4)),
                                            ("model:runs/qmu", Prover("model", path=Path("runs/qmu"))),
                                            ("policy:ckpt/2b", Prover("policy", path=Path("ckpt/2b")))])
def test_prover_parse_round_trips(spec: str, expected: Prover) -> None:
    assert Prover.parse(spec) == expected
    assert str(Prover.parse(spec)) == spec


@pytest.mark.parametrize("spec", ["bok:0", "bok:x", "bok:", "best:4", "model:", "4"])
def test_bad_prover_specs_are_one_line_errors(spec: str) -> None:
    with pytest.raises(PavlabError, match="field 'prover'.*bad prover spec"):
        Prover.parse(spec, source="recipe.yaml")


def test_bok_prover_derives_q_mu_from_q_pi(value_model, tokenizer) -> None:
    verifier = ProcessVerifier(value_model, tokenizer, Prover.parse("bok:4"))
    scores = verifier.score(PROMPTS, STEPS)
    expected_q_pi = score_prefixes(value_model, tokenizer, PROMPTS, STEPS)
    for result, q_pi, steps in zip(scores, expected_q_pi, STEPS, strict=True):
        np.testing.assert_allclose(result.q_pi, q_pi)
        np.testing.assert_allclose(result.q_mu, 1 - (1 - q_pi) ** 4)
        np.testing.assert_allclose(result.advantages, np.diff(result.q_mu))
        rewards = effective_rewards(result.q_pi, result.q_mu, 0.5)
        np.testing.assert_allclose(rewards, q_pi[1:] + 0.5 * np.diff(result.q_mu))
        assert rewards.shape == (len(steps),)


def test_model_prover_loads_a_separate_q_mu_verifier(value_model, value_model_factory, tokenizer,
                                                    tmp_path: Path) -> None:
    value_model.save_pretrained(tmp_path / "qpi", tokenizer=tokenizer)
    other = value_model_factory(tokenizer, seed=1)
    other.save_pretrained(tmp_path / "qmu", tokenizer=tokenizer)
    verifier = ProcessVerifier.load(tmp_path / "qpi", f"model:{tmp_path / 'qmu'}")
    scores = verifier.score(PROMPTS, STEPS)
    expected_q_mu = score_prefixes(other, tokenizer, PROMPTS, STEPS)
    for result, q_mu in zip(scores, expected_q_mu, strict=True):
        np.testing.assert_allclose(result.q_mu, q_mu, atol=1e-6)
        assert not np.allclose(result.q_mu, result.q_pi)


def test_policy_prover_without_a_q_mu_model_is_refused(value_model, tokenizer) -> None:
    with pytest.raises(PavlabError, match="needs a Q\\^mu verifier"):
        ProcessVerifier(value_model, tokenizer, Prover.parse("policy:ckpt/big"))


def test_retain_prefixes_reuses_the_last_calls_ids_and_encodes_the_rest(value_model, tokenizer, monkeypatch) -> None:
    """Retaining responses the last call scored needs no tokenizing; unseen ones are encoded as before."""
    from pavlab.verifiers import step_scores
    from pavlab.verifiers.scoring import scoring_inputs

    verifier = ProcessVerifier(value_model, tokenizer, Prover.parse("bok:4"))
    with verifier.reusing_prefixes():
        verifier.score(PROMPTS, STEPS)
        calls = []
        monkeypatch.setattr(step_scores, "scoring_inputs", lambda *args: calls.append(args) or scoring_inputs(*args))
        verifier.retain_prefixes(PROMPTS[1:], STEPS[1:])
        assert calls == []
        assert list(verifier._caches[0].entries) == [tuple(scoring_inputs(value_model, tokenizer, PROMPTS[1:],
                                                                          STEPS[1:])[0][0])]
        verifier.retain_prefixes([PROMPTS[0], "new?"], [STEPS[0], ["1."]])
        assert len(calls) == 1 and calls[0][2] == ["new?"]
        assert verifier._caches[0].entries == {}  # neither was kept by the previous retain
