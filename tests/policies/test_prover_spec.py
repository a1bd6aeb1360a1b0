"""The prover spec: one parser, one message, each field accepting its own kinds."""

import pytest
from pydantic import BaseModel

from pavlab.errors import PavlabError
from pavlab.policies.prover_spec import (
    PavProverSpec,
    Prover,
    RLProverSpec,
    is_exact_prover,
    procedural_gamma,
    solver_good_move_prob,
)


@pytest.mark.parametrize("spec", ["bok:4", "model:runs/q", "policy:ckpt", "mu:10", "auto", "oracle", "solver:0.7"])
def test_every_kind_round_trips(spec):
    assert str(Prover.parse(spec, kinds=("mu", "bok", "policy", "model", "auto", "oracle", "solver"))) == spec


@pytest.mark.parametrize(("spec", "kinds", "detail"), [
    ("bok:0", ("bok",), "K must be a positive integer"),
    ("mu:-1", ("mu",), "GAMMA must be a number > 0"),
    ("solver:1.5", ("solver",), "P must be a number in [0, 1]"),
    ("solver:x", ("solver",), "P must be a number in [0, 1]"),
    ("mu:10", ("bok", "model"), "expected bok:K (K >= 1) or model:DIR"),
    ("auto", ("bok",), "expected bok:K (K >= 1)"),
])
def test_a_bad_spec_says_what_is_wrong_and_what_the_field_takes(spec, kinds, detail):
    with pytest.raises(PavlabError, match="field 'prover'") as info:
        Prover.parse(spec, kinds=kinds)
    assert str(info.value).startswith(f"field 'prover': bad prover spec {spec!r}: ") and detail in str(info.value)


def test_config_fields_validate_on_load_and_keep_the_spec_as_written():
    class Fields(BaseModel):
        rl: RLProverSpec | None = None
        pav: PavProverSpec | None = None

    assert Fields(rl="mu:10.0", pav="model:./dir/").model_dump() == {"rl": "mu:10.0", "pav": "model:./dir/"}
    with pytest.raises(ValueError, match="bad prover spec 'mu:10'"):
        Fields(pav="mu:10")
    assert procedural_gamma("mu:2.5") == 2.5 and procedural_gamma("bok:4") is None and procedural_gamma(None) is None
    assert solver_good_move_prob("solver:0.3") == 0.3 and solver_good_move_prob("mu:2") is None
    assert is_exact_prover("oracle") and is_exact_prover("solver:1") and not is_exact_prover("bok:4")
    assert not is_exact_prover(None)
