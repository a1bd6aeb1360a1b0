"""`pavlab verifier export`: a standard token-classification folder that scores exactly like the verifier, and loads
back as a third-party PRM."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import AutoModelForTokenClassification, Qwen2Config, Qwen2ForCausalLM

from pavlab.testing import tiny_llama
from pavlab.verifiers.model import ValueModel, load_tokenizer
from pavlab.verifiers.positions import build_scoring_inputs
from pavlab.verifiers.scoring import score_prefixes
from pavlab.verifiers.step_scores import ProcessVerifier
from pavlab.verifiers.third_party import ThirdPartyPRM, load_value_model

PROMPTS = ["ab", "c d", "ab"]
STEPS = [["x+y", "zz", "1"], ["a.b"], ["q", "r s", "t", "uv"]]


def backbone(kind: str, tokenizer):
    if kind == "llama":
        return tiny_llama(tokenizer, seed=2, heads=2, tie=True)
    torch.manual_seed(2)
    return Qwen2ForCausalLM(Qwen2Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                                        num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                                        max_position_embeddings=128, tie_word_embeddings=True)).eval()


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_export_scores_identically_in_transformers_and_as_a_third_party_prm(run_cli, tmp_path, tokenizer,
                                                                            arch) -> None:
    verifier = ValueModel.from_backbone(backbone(arch, tokenizer), kind="pav", prover="bok:4")
    torch.nn.init.normal_(verifier.value_head.weight, std=1.0)
    torch.nn.init.constant_(verifier.value_head.bias, 0.3)
    verifier.save_pretrained(tmp_path / "verifier", tokenizer)
    code, _, stderr = run_cli("verifier", "export", str(tmp_path / "verifier"), "--out", str(tmp_path / "hf"))
    assert code == 0, stderr
    # what pavlab scores with: the folder's tokenizer (transformers picks its class from the backbone's config)
    tokenizer = load_tokenizer(tmp_path / "verifier")
    expected = score_prefixes(ValueModel.from_pretrained(tmp_path / "verifier").eval(), tokenizer, PROMPTS, STEPS)

    exported = AutoModelForTokenClassification.from_pretrained(tmp_path / "hf").eval()
    assert exported.config.num_labels == 1
    for prompt, steps, want in zip(PROMPTS, STEPS, expected, strict=True):
        ids, positions = build_scoring_inputs(tokenizer, prompt, steps, "\n")
        with torch.no_grad():
            logits = exported(torch.tensor([ids])).logits[0, :, 0]
        np.testing.assert_allclose(torch.sigmoid(logits[positions]).numpy(), want, atol=1e-5)

    prm, _ = load_value_model(tmp_path / "hf")  # round trip: the folder is a third-party PRM with the same values
    assert isinstance(prm, ThirdPartyPRM) and (prm.info.kind, prm.info.prover) == ("pav", "bok:4")
    for got, want in zip(score_prefixes(prm, prm.tokenizer, PROMPTS, STEPS, batch_size=2), expected, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)
    assert ProcessVerifier.load(tmp_path / "hf", "bok:4").prover.k == 4
    card = json.loads((tmp_path / "hf" / "prm.json").read_text())
    assert card["style"] == "token-classification" and card["separator"] == "\n"


def test_export_refuses_a_verifier_folder_as_target(run_cli, tmp_path, value_model, tokenizer) -> None:
    value_model.save_pretrained(tmp_path / "verifier", tokenizer)
    code, _, stderr = run_cli("verifier", "export", str(tmp_path / "verifier"), "--out", str(tmp_path / "verifier"))
    assert code == 2 and "export to another folder" in stderr
    code, _, stderr = run_cli("verifier", "export", str(tmp_path / "missing"), "--out", str(tmp_path / "x"))
    assert code == 2 and "not found" in stderr


def test_run_verifier_export_returns_the_exported_folder(tmp_path, value_model, tokenizer) -> None:
    from pavlab.config import load_config
    from pavlab.verifiers.export import VerifierExportConfig, run_verifier_export

    value_model.save_pretrained(tmp_path / "verifier", tokenizer)
    config = load_config(VerifierExportConfig, overrides=["--verifier", str(tmp_path / "verifier"), "--out",
                                                          str(tmp_path / "hf")])
    assert run_verifier_export(config) == tmp_path / "hf"
    assert (tmp_path / "hf" / "prm.json").is_file() and (tmp_path / "hf" / "config.json").is_file()
