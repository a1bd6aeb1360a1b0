"""The value model: a causal-LM backbone with a scalar head, scoring every step in one forward pass.

The head maps each token's last hidden state to a logit; the value of a prefix is
sigmoid(logit) at that prefix's scoring position (see `positions.py`). Because the backbone is
causal, the logit at a step's end token depends only on the text up to that step, so one pass
over a whole response yields the values of all of its prefixes.

On-disk format of a verifier directory (written by `save_pretrained`, read by `from_pretrained`):

- the backbone, as written by `PreTrainedModel.save_pretrained` (`config.json`,
  `model.safetensors`): any code can load it with `AutoModelForCausalLM.from_pretrained`;
- `value_head.safetensors`: tensors `weight` (shape [1, hidden]) and `bias` (shape [1]);
- `verifier.json`: `{"format_version": 1, "kind": "orm"|"prm"|"pav", "prover": spec or null,
  "step_separator": str, "base_checkpoint": str}` (`prover` is the policy whose Q the model
  predicts, in `Prover` spec syntax; `base_checkpoint` is what the backbone was initialised from);
- optionally the tokenizer files, when `save_pretrained` was given a tokenizer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save
from torch import nn
from transformers import AutoModelForCausalLM, PreTrainedModel

from pavlab.errors import PavlabError
from pavlab.io import atomic_open, read_json, write_json

VerifierKind = Literal["orm", "prm", "pav"]
FORMAT_VERSION = 1
HEAD_FILE = "value_head.safetensors"
INFO_FILE = "verifier.json"


@dataclass
class VerifierInfo:
    """What a verifier predicts and how its inputs are segmented; travels with the weights."""

    kind: VerifierKind = "pav"
    prover: str | None = None
    step_separator: str = "\n"
    base_checkpoint: str = ""
    target: str | None = None  # what the values estimate: None = q_hat (prm/pav) or Rex (orm); "bok:K" = BoK values


def _load_backbone(path: str | Path) -> PreTrainedModel:
    path = Path(path)
    if not (path / "config.json").is_file():
        raise PavlabError("not a model checkpoint (config.json missing)", path=path)
    try:
        return AutoModelForCausalLM.from_pretrained(path, use_safetensors=True, local_files_only=True)
    except (OSError, ValueError, SafetensorError) as exc:
        raise PavlabError(f"cannot load the checkpoint ({str(exc).splitlines()[0]})", path=path) from None


class ValueModel(nn.Module):
    """Causal-LM backbone + Linear(hidden, 1) value head; `forward` gives one logit per token."""

    def __init__(self, backbone: PreTrainedModel, info: VerifierInfo) -> None:
        super().__init__()
        self.backbone = backbone
        self.info = info
        self.value_head = nn.Linear(backbone.config.hidden_size, 1)
        nn.init.normal_(self.value_head.weight, std=0.02)
        nn.init.zeros_(self.value_head.bias)

    @classmethod
    def from_backbone(cls, path_or_model: str | Path | PreTrainedModel, kind: VerifierKind = "pav",
                      prover: str | None = None, step_separator: str = "\n") -> ValueModel:
        """A fresh head on top of a policy checkpoint (a local directory) or an in-memory causal LM."""
        if isinstance(path_or_model, PreTrainedModel):
            backbone, base = path_or_model, getattr(path_or_model.config, "_name_or_path", "") or "in-memory"
        else:
            backbone, base = _load_backbone(path_or_model), str(path_or_model)
        return cls(backbone, VerifierInfo(kind=kind, prover=prover, step_separator=step_separator,
                                          base_checkpoint=base))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Value logits, shape [batch, tokens]; sigmoid of the logit at a scoring position is the value."""
        hidden = self.backbone.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.value_head(hidden.to(self.value_head.weight.dtype)).squeeze(-1)

    def save_pretrained(self, out_dir: str | Path, tokenizer: Any = None) -> Path:
        """Write the directory format described in the module docstring."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.backbone.save_pretrained(out_dir)
        head = {name: tensor.detach().cpu().contiguous() for name, tensor in self.value_head.state_dict().items()}
        with atomic_open(out_dir / HEAD_FILE, "wb") as handle:
            handle.write(save(head))
        write_json(out_dir / INFO_FILE, {"format_version": FORMAT_VERSION, **asdict(self.info)})
        if tokenizer is not None:
            tokenizer.save_pretrained(out_dir)
        return out_dir

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> ValueModel:
        directory = Path(directory)
        if not directory.is_dir():
            raise PavlabError("verifier directory not found", path=directory)
        for name in (INFO_FILE, HEAD_FILE):
            if not (directory / name).is_file():
                raise PavlabError(f"not a verifier directory ({name} missing)", path=directory)
        info = _read_info(directory / INFO_FILE)
        try:  # read before the backbone, so a corrupt head fails fast and quietly
            head = load_file(str(directory / HEAD_FILE))
        except SafetensorError as exc:
            raise PavlabError(f"unreadable value head ({exc})", path=directory / HEAD_FILE) from None
        model = cls(_load_backbone(directory), info)
        try:
            model.value_head.load_state_dict(head)
        except RuntimeError as exc:
            raise PavlabError(f"value head does not fit the backbone ({str(exc).splitlines()[-1].strip()})",
                              path=directory / HEAD_FILE) from None
        return model


def _read_info(path: Path) -> VerifierInfo:
    data = read_json(path)
    if not isinstance(data, dict):
        raise PavlabError("expected a JSON object", path=path)
    if data.get("format_version") != FORMAT_VERSION:
        raise PavlabError(f"unsupported format version (expected {FORMAT_VERSION})", path=path,
                          field="format_version")
    if data.get("kind") not in get_args(VerifierKind):
        raise PavlabError(f"must be one of {', '.join(get_args(VerifierKind))}", path=path, field="kind")
    if not isinstance(data.get("step_separator"), str) or not data["step_separator"]:
        raise PavlabError("must be a non-empty string", path=path, field="step_separator")
    target = data.get("target")
    if target is not None and not (isinstance(target, str) and target.startswith("bok:") and target[4:].isdigit()):
        raise PavlabError("must be null or bok:K", path=path, field="target")
    return VerifierInfo(kind=data["kind"], prover=data.get("prover"), step_separator=data["step_separator"],
                        base_checkpoint=str(data.get("base_checkpoint", "")), target=target)


def load_tokenizer(directory: str | Path) -> Any:
    """The tokenizer saved next to a checkpoint or verifier; a verifier must tokenize as its policy did."""
    from transformers import AutoTokenizer

    directory = Path(directory)
    if not directory.is_dir():
        raise PavlabError("tokenizer directory not found", path=directory)
    try:
        return AutoTokenizer.from_pretrained(directory)
    except (OSError, ValueError) as exc:
        raise PavlabError(f"no usable tokenizer here ({str(exc).splitlines()[0]})", path=directory) from None
