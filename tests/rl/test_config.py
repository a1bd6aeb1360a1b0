import subprocess
import sys

import pytest

from pavlab.config import load_config
from pavlab.errors import PavlabError
from pavlab.policies.prover_spec import procedural_gamma
from pavlab.rl.config import RLConfig

BASE = {"policy": "p", "out": "o", "task": {"name": "planted"}}


def load(**overrides):
    return load_config(RLConfig, overrides={**BASE, **overrides})


@pytest.mark.parametrize(("overrides", "message"), [
    ({"kl_coef": -0.1}, "KL coefficient must be >= 0"),
    ({"alpha": 3.0}, "needs a prover"),
    ({"alpha": 3.0, "prover": "bok:4"}, "read from a Q^pi verifier: give --verifier"),
    ({"prover": "mu:ten"}, "expected mu:GAMMA"),
    ({"prover": "mu:-1"}, "GAMMA > 0"),
    ({"prover": "best:4"}, "bad prover spec"),
    ({"baseline": "loo", "group_size": 1}, "group_size >= 2"),
    ({"freeze_embeddings": True, "lora_rank": 4}, "LoRA already leaves the embeddings"),
    ({"reward": "q_only"}, "field 'reward'"),
    ({"lr": 0}, "field 'lr'"),
    ({"iterations": 10, "colour": "red"}, "unknown field"),
])
def test_invalid_configs_give_one_line_errors(overrides, message):
    with pytest.raises(PavlabError) as error:
        load(**overrides)
    text = str(error.value)
    assert message in text
    assert "\n" not in text


def test_procedural_prover_needs_the_planted_task():
    with pytest.raises(PavlabError, match="procedural prover"):
        load_config(RLConfig, overrides={"policy": "p", "out": "o", "task": {"name": "countdown"},
                                         "prover": "mu:10", "alpha": 1.0})


def test_valid_configs():
    config = load(prover="mu:10", alpha=3.0)
    assert procedural_gamma(config.prover) == 10.0 and config.kl_coef == 0.001
    assert load(prover="bok:4", alpha=0.5, verifier="pav").verifier.name == "pav"
    assert load(prover="model:q_mu", alpha=1.0).verifier is None  # a trained prover is its own verifier
    assert load().alpha == 0.0  # outcome-only RL needs no prover


def test_cli_turns_a_bad_config_into_exit_code_2(tmp_path):
    result = subprocess.run([sys.executable, "-c", "from pavlab.cli import main; main()", "rl", "--task.name",
                             "planted", "--policy", str(tmp_path), "--out", str(tmp_path / "run"), "--alpha", "3"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "needs a prover" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_prover_auto_needs_a_verifier_and_is_resolved_on_labels(tmp_path):
    from pavlab.provers.rank import resolve_prover

    config = RLConfig(task="countdown", policy="p", prover="auto", verifier=tmp_path, alpha=1.0, out=tmp_path)
    assert config.prover == "auto"
    with pytest.raises(PavlabError, match="labels"):
        resolve_prover(config.prover, config.labels)


def test_an_outcome_only_run_records_no_prover_so_it_resumes_beside_any_pav(tmp_path):
    """ORM-RL reads no verifier: its run folder is the same whichever PAV a study passes (linked baselines)."""
    from pavlab.runs import prepare_run

    base = {**BASE, "out": str(tmp_path), "alpha": 0.0}
    first = load_config(RLConfig, overrides={**base, "verifier": "pav-a", "labels": "labels-a"})
    assert first.verifier is None and first.labels is None
    prepare_run(tmp_path, first, kind="rl")
    prepare_run(tmp_path, load_config(RLConfig, overrides={**base, "verifier": "pav-b"}), kind="rl")
    with pytest.raises(PavlabError, match="different config"):  # a field the run reads still counts
        prepare_run(tmp_path, load_config(RLConfig, overrides={**base, "lr": 0.5}), kind="rl")


def test_a_run_records_only_the_prover_inputs_it_reads():
    """A model: prover reads no Q^pi verifier and only `auto` reads labels, so neither is recorded otherwise."""
    pav = {"alpha": 1.0, "verifier": "q_pi", "labels": "labels"}
    assert load(**pav, prover="model:q_mu").verifier is None
    assert load(**pav, prover="bok:4").verifier.name == "q_pi" and load(**pav, prover="bok:4").labels is None
    assert load(**pav, prover="auto").labels.name == "labels"
    with pytest.raises(PavlabError, match="bad prover spec"):  # checked before it is dropped
        load(alpha=0.0, prover="best:4")
