from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pavlab.errors import PavlabError
from pavlab.io import read_json, write_json
from pavlab.verifiers.model import ValueModel, load_tokenizer
from pavlab.verifiers.scoring import score_prefixes

PROMPTS = ["2+3?", "9-4?"]
STEPS = [["2+3=5.", "answer 5."], ["9-4=6.", "6-1=5.", "answer 5."]]


def test_forward_gives_one_logit_per_token(value_model: ValueModel) -> None:
    ids = torch.randint(4, 20, (3, 11))
    assert value_model(ids, torch.ones_like(ids)).shape == (3, 11)


def test_save_load_round_trip_gives_identical_scores(value_model: ValueModel, tokenizer, tmp_path: Path) -> None:
    value_model.info.step_separator = "\n\n"
    value_model.save_pretrained(tmp_path / "v", tokenizer=tokenizer)
    loaded = ValueModel.from_pretrained(tmp_path / "v")
    assert (loaded.info.kind, loaded.info.prover, loaded.info.step_separator) == ("pav", "bok:4", "\n\n")
    before = score_prefixes(value_model, tokenizer, PROMPTS, STEPS)
    after = score_prefixes(loaded, load_tokenizer(tmp_path / "v"), PROMPTS, STEPS)
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)


def test_from_backbone_loads_a_policy_checkpoint(value_model: ValueModel, tmp_path: Path) -> None:
    value_model.backbone.save_pretrained(tmp_path / "policy")
    fresh = ValueModel.from_backbone(tmp_path / "policy", kind="orm")
    assert fresh.info.base_checkpoint == str(tmp_path / "policy") and fresh.info.kind == "orm"
    for name, tensor in value_model.backbone.state_dict().items():
        torch.testing.assert_close(fresh.backbone.state_dict()[name], tensor)


def test_missing_files_are_one_line_errors(value_model: ValueModel, tmp_path: Path) -> None:
    with pytest.raises(PavlabError, match="verifier directory not found"):
        ValueModel.from_pretrained(tmp_path / "nope")
    with pytest.raises(PavlabError, match="config.json missing"):
        ValueModel.from_backbone(tmp_path)
    value_model.save_pretrained(tmp_path / "v")
    (tmp_path / "v" / "value_head.safetensors").unlink()
    with pytest.raises(PavlabError, match="value_head.safetensors missing"):
        ValueModel.from_pretrained(tmp_path / "v")


def test_bad_verifier_json_names_the_field(value_model: ValueModel, tmp_path: Path) -> None:
    value_model.save_pretrained(tmp_path / "v")
    info = read_json(tmp_path / "v" / "verifier.json")
    write_json(tmp_path / "v" / "verifier.json", {**info, "kind": "reward"})
    with pytest.raises(PavlabError, match="field 'kind'") as caught:
        ValueModel.from_pretrained(tmp_path / "v")
    assert "\n" not in str(caught.value)
