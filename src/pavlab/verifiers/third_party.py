"""Third-party PRMs as pavlab verifiers, loaded from a local Hugging Face folder (never from a hub).

Two kinds of PRM are read, both as "the probability that the step is good" at a marker after each step:

- **token-classification** PRMs: `*ForTokenClassification` models (TRL-trained PRMs, pavlab's own
  exports) or Qwen2.5-Math-PRM-style models whose 2-way head is read at a separator token
  (`<extra_0>`) put after every step. P(positive) = softmax(logits)[positive_label], or
  sigmoid(logit) for a one-label head.
- **step-tag** PRMs on a causal LM (Math-Shepherd style): a tag (`ки`) after every step; the
  score is P(`+`) against P(`-`) of the LM's next-token distribution at the tag.

How a PRM is named, wherever pavlab reads a verifier (`--verifier`, `--orm`, a `model:DIR` prover,
`eval-verifier`, RL's `--verifier` / `--orm`); `load_value_model` is the one loader behind them all:

- `DIR` holding `prm.json` (an adapter card; `pavlab verifier export` writes one), or the path of
  such a JSON file anywhere, whose `model` field names the HF folder relative to the file (for a
  folder you cannot write to);
- `hf-prm:DIR`: the folder alone, read with defaults detected from its `config.json`
  (a causal LM -> step-tag with Math-Shepherd's tokens; otherwise token-classification with
  separator `<extra_0>` if the tokenizer has it, else "\\n" as TRL trains);
- a folder with `verifier.json` stays a pavlab verifier.

`prm.json` fields (all optional but `style`): `{"format": "pavlab-prm", "version": 1, "model": ".",
"style": "token-classification" | "step-tag", "separator": text put after every step, "tag": the
part of the separator where the score is read (default: all of it), "positive_label": 1,
"positive_token": "+", "negative_token": "-", "prompt_template": "{prompt}", "layout": "pavlab" | "trl",
"system": null, "trust_remote_code":
false, "dtype": null (transformers' default; or "bfloat16", "float32", ...), "kind": "prm", "prover": null}`.

Inputs, `layout` "pavlab" (the default): pavlab's encoding convention (`policies/tokenization.py`):
the prompt (the task's prompt text through `prompt_template`, in the PRM tokenizer's chat template
as the user turn, after `system` if set, when it has one), then the response
"".join(step + separator) encoded on its own. A step is read at the token holding the tag's last
character, found from character offsets, so a tag that merges with its neighbours is still found.
`layout` "trl" rebuilds what TRL's PRM trainer trained on: BOS + the prompt text (no chat
template), then each step and the separator tokenized on their own, a step read at the last token
of its piece; `hf-prm:DIR` picks it for token-classification folders without `<extra_0>`.

The value of the bare prompt (index 0 of the H+1 values pavlab's
verifiers return) is the same readout at the last prompt token: a causal model sees only the
prompt there, so it is one number per prompt; it only enters the first step's advantage, and a
"q" ranking never reads it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Literal, get_args

import torch
from torch import nn

from pavlab.errors import PavlabError
from pavlab.io import read_json, write_json
from pavlab.policies.tokenization import encode_prompt, encode_response
from pavlab.verifiers.model import HEAD_FILE, INFO_FILE, ValueModel, VerifierInfo, load_tokenizer
from pavlab.verifiers.positions import step_end_token_indices

CARD_FILE = "prm.json"
CARD_FORMAT = "pavlab-prm"
SPEC_PREFIX = "hf-prm:"
PRMStyle = Literal["token-classification", "step-tag"]
PRMLayout = Literal["pavlab", "trl"]
QWEN_SEPARATOR = "<extra_0>"
SHEPHERD = {"separator": " ки\n", "tag": "ки", "positive_token": "+", "negative_token": "-",
            "prompt_template": "{prompt} "}


@dataclass
class PRMCard:
    """How to read a third-party PRM: the contents of `prm.json`."""

    style: PRMStyle
    model: str = "."
    separator: str = "\n"
    tag: str | None = None
    positive_label: int = 1
    positive_token: str = "+"
    negative_token: str = "-"
    prompt_template: str = "{prompt}"
    layout: PRMLayout = "pavlab"
    system: str | None = None
    trust_remote_code: bool = False
    dtype: str | None = None
    kind: str = "prm"
    prover: str | None = None

    @property
    def tag_end(self) -> int:
        """Characters from the start of the separator to the end of the tag (where a step is read)."""
        tag = self.tag or self.separator
        return self.separator.index(tag) + len(tag)

    def to_json(self) -> dict[str, Any]:
        return {"format": CARD_FORMAT, "version": 1, **asdict(self)}


def parse_card(data: Any, path: Path) -> PRMCard:
    """A `PRMCard` from parsed JSON, with one-line errors naming the file and field."""
    if not isinstance(data, dict):
        raise PavlabError("expected a JSON object", path=path)
    if data.get("format", CARD_FORMAT) != CARD_FORMAT:
        raise PavlabError(f"not a pavlab PRM card (expected \"format\": \"{CARD_FORMAT}\")", path=path, field="format")
    known = {f.name for f in fields(PRMCard)}
    unknown = sorted(set(data) - known - {"format", "version"})
    if unknown:
        raise PavlabError(f"unknown field (expected some of {', '.join(sorted(known))})", path=path,
                          field=unknown[0])
    if data.get("style") not in get_args(PRMStyle):
        raise PavlabError(f"must be one of {', '.join(get_args(PRMStyle))}", path=path, field="style")
    card = PRMCard(**{key: value for key, value in data.items() if key in known})
    for name in ("separator", "positive_token", "negative_token", "prompt_template", "model"):
        if not isinstance(getattr(card, name), str) or not getattr(card, name):
            raise PavlabError("must be a non-empty string", path=path, field=name)
    if card.tag is not None and (not isinstance(card.tag, str) or card.tag not in card.separator):
        raise PavlabError("must be a piece of the separator", path=path, field="tag")
    if card.layout not in get_args(PRMLayout):
        raise PavlabError(f"must be one of {', '.join(get_args(PRMLayout))}", path=path, field="layout")
    if not isinstance(card.trust_remote_code, bool):
        raise PavlabError("must be true or false", path=path, field="trust_remote_code")
    if card.system is not None and not isinstance(card.system, str):
        raise PavlabError("must be a string or null", path=path, field="system")
    if "{prompt}" not in card.prompt_template:
        raise PavlabError("must contain {prompt}", path=path, field="prompt_template")
    if card.dtype is not None and card.dtype != "auto" and not isinstance(getattr(torch, str(card.dtype), None),
                                                                          torch.dtype):
        raise PavlabError("must be a torch dtype name (bfloat16, float16, float32) or auto", path=path, field="dtype")
    if not isinstance(card.positive_label, int) or card.positive_label < 0:
        raise PavlabError("must be a label index (0, 1, ...)", path=path, field="positive_label")
    return card


def detect_card(directory: Path) -> PRMCard:
    """Defaults for a bare HF folder (`hf-prm:DIR`), from its config.json and tokenizer."""
    config = _read_config(directory)
    architectures = config.get("architectures") or []
    if any(name.endswith("ForCausalLM") for name in architectures):
        return PRMCard(style="step-tag", **SHEPHERD)
    qwen = QWEN_SEPARATOR in load_tokenizer(directory).get_vocab()
    return PRMCard(style="token-classification", separator=QWEN_SEPARATOR if qwen else "\n",
                   layout="pavlab" if qwen else "trl",
                   positive_label=0 if config.get("num_labels", len(config.get("id2label") or {0: 0, 1: 1})) == 1
                   else 1)


def _read_config(directory: Path) -> dict[str, Any]:
    if not (directory / "config.json").is_file():
        raise PavlabError("not a Hugging Face model folder (config.json missing)", path=directory)
    data = read_json(directory / "config.json")
    if not isinstance(data, dict):
        raise PavlabError("expected a JSON object", path=directory / "config.json")
    return data


def _load_hf(directory: Path, card: PRMCard) -> nn.Module:
    from transformers import AutoModel, AutoModelForCausalLM, AutoModelForTokenClassification

    config = _read_config(directory)
    custom = "auto_map" in config
    if custom and not card.trust_remote_code:
        raise PavlabError(f"this model's architecture ({', '.join(config.get('architectures') or ['?'])}) is code "
                          f"shipped in the folder: set \"trust_remote_code\": true in a {CARD_FILE} to run it",
                          path=directory)
    if card.style == "step-tag":
        loader: Any = AutoModelForCausalLM
    else:
        loader = AutoModel if custom else AutoModelForTokenClassification
    try:
        return loader.from_pretrained(directory, local_files_only=True, trust_remote_code=card.trust_remote_code,
                                      **({"dtype": card.dtype} if card.dtype else {}))
    except (OSError, ValueError, KeyError) as exc:
        raise PavlabError(f"cannot load the {card.style} PRM ({str(exc).splitlines()[0]})", path=directory) from None


HEAD_NAMES = ("score", "classifier")


def token_classifier_head(model: nn.Module) -> nn.Module:
    """The per-token head of a `*ForTokenClassification` model (or of a PRM whose code names it alike)."""
    for name in HEAD_NAMES:
        head = getattr(model, name, None)
        if isinstance(head, nn.Module):
            return head
    raise PavlabError(f"{type(model).__name__} has no per-token head named {' or '.join(HEAD_NAMES)}")


class LogOddsHead(nn.Module):
    """Hidden states -> log-odds of a good step, [batch, tokens, 1]: the role of pavlab's value head, so the
    verifier's prefix cache (`verifiers/prefix_cache.py`) reads a third-party PRM as it reads a value model."""

    def __init__(self, head: nn.Module, positive: int, softcap: float | None = None) -> None:
        super().__init__()
        self.head, self.positive, self.softcap = head, positive, softcap

    @property
    def weight(self) -> torch.Tensor:
        """The head's first parameter: hidden states are cast to its dtype."""
        return next(self.head.parameters())

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = self.head(hidden).float()
        if self.softcap:
            logits = self.softcap * torch.tanh(logits / self.softcap)
        if logits.shape[-1] == 1:
            return logits
        if self.positive >= logits.shape[-1]:
            raise PavlabError(f"positive_label {self.positive} but the head has {logits.shape[-1]} labels",
                              field="positive_label")
        others = torch.cat([logits[..., :self.positive], logits[..., self.positive + 1:]], dim=-1)
        return (logits[..., self.positive] - torch.logsumexp(others, dim=-1)).unsqueeze(-1)


class ThirdPartyPRM(nn.Module):
    """A local HF PRM behind pavlab's value-model interface: `backbone.base_model` + `value_head` give the log-odds
    of "good" per token (sigmoid: P(good)), `scoring_inputs` the ids and the H+1 positions to read (see the module
    docstring). Step-tag PRMs keep only the LM head's rows of the two label tokens."""

    def __init__(self, model: nn.Module, tokenizer: Any, card: PRMCard, source: str = "") -> None:
        super().__init__()
        self.model, self.tokenizer, self.card = model.eval(), tokenizer, card
        self.info = VerifierInfo(kind=card.kind, prover=card.prover,  # type: ignore[arg-type]
                                 step_separator=card.separator, base_checkpoint=source)
        if card.style == "step-tag":
            labels = [self._single_token(card.positive_token, "positive_token"),
                      self._single_token(card.negative_token, "negative_token")]
            lm_head = model.get_output_embeddings()
            rows = nn.Linear(lm_head.weight.shape[1], 2, bias=lm_head.bias is not None,
                             dtype=lm_head.weight.dtype, device=lm_head.weight.device)
            with torch.no_grad():
                rows.weight.copy_(lm_head.weight[labels])
                if lm_head.bias is not None:
                    rows.bias.copy_(lm_head.bias[labels])
            self.value_head = LogOddsHead(rows, 0, getattr(model.config, "final_logit_softcapping", None))
        else:
            self.value_head = LogOddsHead(token_classifier_head(model), card.positive_label)

    @property
    def backbone(self) -> nn.Module:
        """The HF model; its `base_model` gives the hidden states the head reads."""
        return self.model

    def _single_token(self, text: str, field: str) -> int:
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise PavlabError(f"{text!r} is {len(ids)} tokens under this tokenizer, not one", field=field)
        return int(ids[0])

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Log-odds of a good step at every token, shape [batch, tokens]; sigmoid gives P(good)."""
        hidden = self.model.base_model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.value_head(hidden.to(self.value_head.weight.dtype)).squeeze(-1)

    def scoring_inputs(self, prompt: str, steps: list[str] | tuple[str, ...]) -> tuple[list[int], list[int]]:
        """Token ids of prompt + response and the H+1 positions read (0: last prompt token, h: step h's tag)."""
        prompt_ids = self._prompt_ids(self.card.prompt_template.replace("{prompt}", prompt))
        if not prompt_ids:
            raise ValueError("the prompt encodes to no tokens, so the bare prompt has no scoring position")
        separator = self.card.separator
        if self.card.layout == "trl":  # each step and the separator tokenized on their own, read at the piece's end
            separator_ids = self.tokenizer(separator, add_special_tokens=False)["input_ids"]
            response_ids, positions = [], []
            for step in steps:
                response_ids += self.tokenizer(step, add_special_tokens=False)["input_ids"] + separator_ids
                positions.append(len(prompt_ids) + len(response_ids) - 1)
            return prompt_ids + response_ids, [len(prompt_ids) - 1, *positions]
        response_ids, offsets = encode_response(self.tokenizer, "".join(step + separator for step in steps))
        ends, total = [], 0
        for step in steps:
            ends.append(total + len(step) + self.card.tag_end)
            total += len(step) + len(separator)
        positions = [len(prompt_ids) - 1] + [len(prompt_ids) + index for index in step_end_token_indices(offsets, ends)]
        # what follows the last read token (a step tag's newline) changes no reading of a causal model: dropping it
        # keeps each sequence a prefix of its extensions, which the prefix cache needs
        return (prompt_ids + response_ids)[:positions[-1] + 1], positions

    def _prompt_ids(self, text: str) -> list[int]:
        """pavlab layout: the shared convention (chat template, with `system` if set); trl: BOS + text, as TRL's
        PRM trainer tokenized its prompts."""
        tokenizer = self.tokenizer
        if self.card.layout == "trl":
            bos = [] if tokenizer.bos_token_id is None else [tokenizer.bos_token_id]
            return bos + list(tokenizer(text, add_special_tokens=False)["input_ids"])
        if self.card.system is None or not getattr(tokenizer, "chat_template", None):
            return encode_prompt(tokenizer, text)
        ids = tokenizer.apply_chat_template([{"role": "system", "content": self.card.system},
                                             {"role": "user", "content": text}], add_generation_prompt=True,
                                            tokenize=True)
        return list(ids["input_ids"] if hasattr(ids, "keys") else ids)


def is_third_party(spec: str | Path) -> bool:
    """Whether `spec` names a third-party PRM (rather than a pavlab verifier folder)."""
    text = str(spec)
    if text.startswith(SPEC_PREFIX):
        return True
    path = Path(text)
    if path.is_file() and path.suffix == ".json":
        return True
    return path.is_dir() and (path / CARD_FILE).is_file() and not (path / INFO_FILE).is_file()


def load_third_party(spec: str | Path) -> ThirdPartyPRM:
    """The PRM `spec` names: `hf-prm:DIR`, a folder with prm.json, or a prm.json file."""
    text = str(spec)
    if text.startswith(SPEC_PREFIX):
        directory = Path(text[len(SPEC_PREFIX):])
        if not directory.is_dir():
            raise PavlabError("PRM folder not found", path=directory)
        card = detect_card(directory)
    else:
        path = Path(text)
        card_path = path if path.is_file() else path / CARD_FILE
        card = parse_card(read_json(card_path), card_path)
        directory = (card_path.parent / card.model).resolve()
        if not directory.is_dir():
            raise PavlabError("the PRM folder it names was not found", path=card_path, field="model")
    tokenizer = load_tokenizer(directory)
    return ThirdPartyPRM(_load_hf(directory, card), tokenizer, card, source=str(directory))


def load_value_model(spec: str | Path) -> tuple[nn.Module, Any]:
    """The one verifier loader: (model, tokenizer) for a pavlab verifier folder or any third-party PRM spec.

    Both models give per-token logits whose sigmoid is the value, so `score_prefixes` scores either.
    """
    if is_third_party(spec):
        prm = load_third_party(spec)
        return prm, prm.tokenizer
    directory = Path(spec)
    if directory.is_dir() and not (directory / INFO_FILE).is_file() and not (directory / HEAD_FILE).is_file() \
            and (directory / "config.json").is_file():
        raise PavlabError(f"not a pavlab verifier ({INFO_FILE} missing); for a third-party PRM use "
                          f"--verifier {SPEC_PREFIX}{directory} or put a {CARD_FILE} in it", path=directory)
    return ValueModel.from_pretrained(directory), load_tokenizer(directory)


def write_card(directory: str | Path, card: PRMCard) -> Path:
    """Write `prm.json` into `directory`; returns its path."""
    path = Path(directory) / CARD_FILE
    write_json(path, card.to_json())
    return path
