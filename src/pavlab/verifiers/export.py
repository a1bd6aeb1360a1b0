"""`pavlab verifier export`: a pavlab verifier as a standard transformers token-classification model.

The value model is a causal-LM backbone plus Linear(hidden, 1) on every token's last hidden state;
`*ForTokenClassification` is the same backbone plus a Linear(hidden, num_labels) ("score" or
"classifier") on every token, so with num_labels = 1 the head is the value head, weight for
weight. The exported folder holds:

- `config.json` + `model.safetensors` of `AutoModelForTokenClassification` (one label, "value"):
  `sigmoid(logits[0, t, 0])` at a scoring position is the verifier's value there;
- the tokenizer;
- `prm.json`: how to read it (separator, the verifier's kind and prover), so the folder is also a
  third-party PRM for every pavlab command (`--verifier HF_DIR`), with the same values.

Scoring positions follow pavlab's convention (`verifiers/positions.py`): the prompt through the
chat template, then each step followed by the separator, read at the token holding the
separator's last character.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch
from pydantic import Field
from torch import nn

from pavlab.config import Config
from pavlab.errors import PavlabError
from pavlab.verifiers.model import INFO_FILE, ValueModel, load_tokenizer
from pavlab.verifiers.third_party import PRMCard, token_classifier_head, write_card


def to_token_classifier(value_model: ValueModel) -> nn.Module:
    """An `AutoModelForTokenClassification` model computing the same logits as `value_model`."""
    from transformers import AutoModelForTokenClassification

    config = copy.deepcopy(value_model.backbone.config)
    config.num_labels = 1
    config.id2label, config.label2id = {0: "value"}, {"value": 0}
    config.architectures = None
    config.token_classification_bias = True
    try:
        model = AutoModelForTokenClassification.from_config(config)
    except ValueError as exc:
        raise PavlabError(f"transformers has no token-classification model for '{config.model_type}' "
                          f"({str(exc).splitlines()[0]})") from None
    model.base_model.load_state_dict(value_model.backbone.base_model.state_dict())
    head = token_classifier_head(model)
    if not isinstance(head, nn.Linear) or head.bias is None:
        raise PavlabError(f"{type(model).__name__}'s head is not a Linear with a bias, so it cannot hold the value "
                          "head")
    head.load_state_dict(value_model.value_head.state_dict())
    return model.to(value_model.backbone.dtype).eval()


def export_verifier(verifier_dir: str | Path, out_dir: str | Path) -> Path:
    """Write `verifier_dir` as a token-classification folder (see the module docstring); returns `out_dir`."""
    if (Path(out_dir) / INFO_FILE).is_file():
        raise PavlabError("holds a pavlab verifier: export to another folder", path=out_dir)
    value_model = ValueModel.from_pretrained(verifier_dir)
    tokenizer = load_tokenizer(verifier_dir)
    out_dir = Path(out_dir)
    with torch.no_grad():
        model = to_token_classifier(value_model)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    info = value_model.info
    write_card(out_dir, PRMCard(style="token-classification", separator=info.step_separator, positive_label=0,
                                kind=info.kind, prover=info.prover))
    return out_dir


class VerifierExportConfig(Config):
    """The verifier to export and the folder for its Hugging Face model."""

    verifier: Path = Field(..., description="pavlab verifier folder (from train-verifier)")
    out: Path = Field(..., description="folder for the Hugging Face model")


def run_verifier_export(config: VerifierExportConfig) -> Path:
    """The `verifier export` job: write `config.verifier` as a token-classification folder; returns it
    (`config.out`), which `AutoModelForTokenClassification.from_pretrained` and `--verifier` read."""
    return export_verifier(config.verifier, config.out)
