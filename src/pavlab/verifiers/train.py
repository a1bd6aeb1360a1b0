"""Training a value model (ORM, PRM or PAV) on Monte Carlo labels, resumable.

Loss is binary cross-entropy against the soft target q_hat at every labeled state (prm/pav),
or against the outcome Rex at the final state (orm), as in the paper (not MSE: BCE keeps
gradients alive near 0 and 1, where most labels sit). The optimizer is AdamW with linear
warm-up and cosine decay. Every `checkpoint_every` steps the full training state (weights,
optimizer, scheduler, sampler RNG, step, loss log) goes to `out_dir/checkpoint.pt`; rerunning
the same command resumes from it and reproduces the uninterrupted run exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field, field_validator, model_validator
from tqdm import tqdm
from transformers import LlamaConfig, LlamaForCausalLM

from pavlab.config import Config
from pavlab.errors import PavlabError
from pavlab.io import write_json, write_jsonl
from pavlab.labeling.format import read_label_rows, resolve_label_paths
from pavlab.policies.prover_spec import PavProverSpec
from pavlab.training import (
    CHECKPOINT_FILE,
    load_checkpoint,
    lr_factor,
    resolve_device,
    restore_rng,
    rng_state,
    save_checkpoint,
)
from pavlab.verifiers.data import TrainingExample, build_examples
from pavlab.verifiers.model import INFO_FILE, ValueModel, VerifierKind, load_tokenizer
from pavlab.verifiers.sampler import PositionSampler
from pavlab.verifiers.scoring import pad_id_of, right_pad

LOG_FILE = "train_log.jsonl"
# Fields that may change between an interrupted run and its resumption (a larger `steps` extends a run;
# the cosine schedule then stretches from the resumed step).
RESUMABLE_CHANGES = {"steps", "checkpoint_every", "device"}


class ScratchModelConfig(Config):
    """Shape of a randomly initialised Llama backbone (defaults: the ~1M-parameter testbed model)."""

    hidden_size: int = Field(128, ge=8)
    num_layers: int = Field(4, ge=1)
    num_heads: int = Field(4, ge=1)
    intermediate_size: int = Field(256, ge=8)


class VerifierTrainConfig(Config):
    kind: VerifierKind = Field("pav", description="orm: Rex at the end; prm/pav: q_hat per step")
    init: str = Field("scratch", description="policy checkpoint directory, a trained verifier folder (continue it: "
                      "a later labeling round), or 'scratch'")
    tokenizer: str | None = Field(None, description="tokenizer directory (default: the init checkpoint)")
    scratch: ScratchModelConfig = Field(default_factory=ScratchModelConfig)
    prover: PavProverSpec | None = Field(None, description="prover whose Q the labels estimate (recorded in "
                                                            "verifier.json)")
    target_bok: int | None = Field(None, ge=1, description="train on unbiased Best-of-K values from the rollout "
                                                           "counts instead of q_hat: a PAV of the prover BoK(pi) "
                                                           "(recorded as prover bok:K)")
    step_separator: str = Field("\n", min_length=1)
    lr: float = Field(1e-4, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    steps: int = Field(1000, ge=1)
    batch_size: int = Field(32, ge=1, description="labeled positions per optimizer step")
    warmup: int = Field(100, ge=0, description="linear warm-up steps, then cosine decay")
    min_lr_ratio: float = Field(0.0, ge=0, le=1, description="final lr as a fraction of lr")
    grad_clip: float = Field(1.0, gt=0)
    balanced: bool = Field(True, description="draw q_hat < 0.5 and >= 0.5 positions equally")
    seed: int = 0
    max_length: int = Field(1024, ge=2)
    checkpoint_every: int = Field(200, ge=1)
    device: str = Field("auto", description="'auto', 'cpu', 'cuda', ...")


    @model_validator(mode="after")
    def _bok_targets_fit(self) -> VerifierTrainConfig:
        """Best-of-K targets are per-step values of the prover BoK(pi), which the verifier then records."""
        if self.target_bok is None:
            return self
        if self.kind == "orm":
            raise ValueError("target_bok needs a per-step verifier (kind prm or pav), not an ORM")
        if self.prover not in (None, f"bok:{self.target_bok}"):
            raise ValueError(f"target_bok {self.target_bok} trains a bok:{self.target_bok} PAV, "
                             f"not one of prover {self.prover}")
        return self

    @property
    def recorded_prover(self) -> str | None:
        """The prover whose values the trained verifier predicts (what verifier.json records)."""
        return f"bok:{self.target_bok}" if self.target_bok is not None else self.prover


def _build_model(config: VerifierTrainConfig, tokenizer: Any) -> ValueModel:
    model = _fresh_model(config, tokenizer)
    if config.target_bok is not None:
        model.info.target = f"bok:{config.target_bok}"
    return model


def _fresh_model(config: VerifierTrainConfig, tokenizer: Any) -> ValueModel:
    if config.init != "scratch":
        if (Path(config.init) / INFO_FILE).is_file():
            return _continued_model(config)
        return ValueModel.from_backbone(config.init, config.kind, config.recorded_prover, config.step_separator)
    shape = config.scratch
    backbone = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=shape.hidden_size, intermediate_size=shape.intermediate_size,
        num_hidden_layers=shape.num_layers, num_attention_heads=shape.num_heads,
        num_key_value_heads=shape.num_heads, max_position_embeddings=config.max_length,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=pad_id_of(tokenizer), tie_word_embeddings=True))
    model = ValueModel.from_backbone(backbone, config.kind, config.recorded_prover, config.step_separator)
    model.info.base_checkpoint = "scratch"
    return model


def _continued_model(config: VerifierTrainConfig) -> ValueModel:
    """A trained verifier (backbone and head) as the start: a later labeling round (labels from the states an
    RL policy reached with the earlier verifier) continues it instead of starting over from the policy."""
    model = ValueModel.from_pretrained(config.init)
    if model.info.kind != config.kind or model.info.step_separator != config.step_separator:
        raise PavlabError(f"--init is a {model.info.kind} verifier with step separator {model.info.step_separator!r}; "
                          f"this run trains a {config.kind} with {config.step_separator!r}", field="init")
    model.info.prover = config.recorded_prover
    return model


def batch_loss(model: ValueModel, examples: Sequence[TrainingExample], pairs: Sequence[tuple[int, int]],
               pad_id: int, device: torch.device) -> torch.Tensor:
    """Mean BCE over the drawn positions; each drawn response is run once, however many positions it gives."""
    unique = sorted({e for e, _ in pairs})
    row_of = {e: row for row, e in enumerate(unique)}
    ids, mask = right_pad([examples[e].input_ids for e in unique], pad_id, device)
    logits = model(ids, mask)
    rows = torch.tensor([row_of[e] for e, _ in pairs], device=device)
    cols = torch.tensor([examples[e].positions[p] for e, p in pairs], device=device)
    targets = torch.tensor([examples[e].targets[p] for e, p in pairs], device=device, dtype=logits.dtype)
    return F.binary_cross_entropy_with_logits(logits[rows, cols], targets)


def _comparable(config_dump: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in config_dump.items() if key not in RESUMABLE_CHANGES}


def _load_checkpoint(path: Path, config: VerifierTrainConfig) -> dict[str, Any] | None:
    """The saved state (None: start fresh), refused if it was made with a config that changes training."""
    state = load_checkpoint(path)
    if state is not None and _comparable(state["config"]) != _comparable(config.model_dump()):
        changed = sorted(k for k in _comparable(state["config"])
                         if state["config"][k] != config.model_dump().get(k))
        raise PavlabError(f"checkpoint was made with a different config ({', '.join(changed)}); "
                          "use another out_dir or delete the checkpoint", path=path)
    return state


def train_verifier(config: VerifierTrainConfig, label_paths: Sequence[str | Path], out_dir: str | Path) -> Path:
    """Train on the label files/folders, checkpointing and resuming in `out_dir`; returns the verifier dir."""
    out_dir = Path(out_dir)
    if config.init == "scratch" and config.tokenizer is None:
        raise PavlabError("required when init is 'scratch'", field="tokenizer")
    tokenizer = load_tokenizer(config.tokenizer or config.init)
    examples = build_examples(read_label_rows(label_paths), tokenizer, config.kind, config.step_separator,
                              config.max_length, config.target_bok)
    if not examples:
        raise PavlabError("the label files hold no labeled positions", field="q_hat")
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    model = _build_model(config, tokenizer).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, config.warmup, config.steps, config.min_lr_ratio))
    generator = torch.Generator().manual_seed(config.seed)
    sampler = PositionSampler(examples, config.batch_size, config.balanced, generator)
    log: list[dict[str, float]] = []
    start = 0
    checkpoint_path = out_dir / CHECKPOINT_FILE
    state = _load_checkpoint(checkpoint_path, config)
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        if "rng" in state:
            restore_rng(state["rng"])
        else:  # written before pavlab.training, with the torch RNG only (the one this loop draws from)
            torch.set_rng_state(state["torch_rng"])
        start, log = state["step"], state["log"]

    def checkpoint(step: int) -> None:
        save_checkpoint(checkpoint_path, {
            "step": step, "model": model.state_dict(), "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(), "generator": generator.get_state(),
            "rng": rng_state(), "log": log, "config": config.model_dump()})

    pad_id = pad_id_of(tokenizer)
    model.train()
    with tqdm(total=config.steps, initial=start, desc=f"train {config.kind}", disable=None) as bar:
        for step in range(start, config.steps):
            loss = batch_loss(model, examples, sampler.draw(), pad_id, device)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            log.append({"step": step + 1, "loss": loss.item(), "lr": scheduler.get_last_lr()[0]})
            optimizer.step()
            scheduler.step()
            bar.update(1)
            bar.set_postfix(loss=f"{log[-1]['loss']:.4f}")
            if (step + 1) % config.checkpoint_every == 0 or step + 1 == config.steps:
                checkpoint(step + 1)
    model.save_pretrained(out_dir, tokenizer=tokenizer)
    write_jsonl(out_dir / LOG_FILE, log)
    write_json(out_dir / "train_config.json", {"config": config.model_dump(),
                                                "label_paths": [str(p) for p in label_paths],
                                                "responses_used": len(examples),
                                                "labeled_positions": len(sampler.pairs)})
    return out_dir


class TrainVerifierJobConfig(VerifierTrainConfig):
    """`pavlab train-verifier`: the training config plus where the labels come from and where the verifier goes."""

    labels: list[str] = Field(..., description="label files, shard folders or `pavlab label` run folders")
    out: Path = Field(..., description="verifier folder (holds the checkpoint while training; rerun to resume)")

    @field_validator("labels", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def training(self) -> VerifierTrainConfig:
        """The training part (what train_config.json records), with a policy spec (`init: smollm2`) resolved to
        its checkpoint folder: the trainer reads `init` and `tokenizer` as folders."""
        from pavlab.policies.loading import SMOLLM2_SPEC, resolve_checkpoint

        train = self.model_dump(exclude={"labels", "out"})
        for field in ("init", "tokenizer"):
            if train[field] == SMOLLM2_SPEC:
                train[field] = str(resolve_checkpoint(SMOLLM2_SPEC))
        return VerifierTrainConfig.model_validate(train)


def run_train_verifier(config: TrainVerifierJobConfig) -> Path:
    """The `train-verifier` job: train (or resume) on the config's labels into `config.out`."""
    return train_verifier(config.training(), resolve_label_paths(config.labels), config.out)
