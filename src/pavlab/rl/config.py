"""`RLConfig`: everything one online RL run depends on, validated before any model is loaded."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ModelWrapValidatorHandler, field_validator, model_validator

from pavlab.policies.prover_spec import (
    PROVER_SYNTAX,
    RLProverSpec,
    procedural_gamma,
    reads_q_pi,
    solver_good_move_prob,
)
from pavlab.policies.start_task import StartTaskConfig
from pavlab.rl.objective import KLEstimator
from pavlab.rl.rewards import StepCredit
from pavlab.tasks.registry import TaskConfig
from pavlab.verifiers.progress import RewardKind

Baseline = Literal["value", "loo", "none"]
PROVER_INPUTS = ("prover", "verifier", "labels")


class RLConfig(StartTaskConfig):
    """Online REINFORCE with per-step rewards Q^pi + alpha * A^mu (alpha = 0: outcome-only ORM-RL)."""

    task: TaskConfig = TaskConfig()
    policy: str = Field(..., description="starting policy: an HF checkpoint folder, or smollm2")
    out: Path = Field(..., description="run folder (rerun the same command to resume)")
    prover: RLProverSpec | None = Field(None, description=f"mu:GAMMA (planted), oracle or solver:P (subset_sum): exact "
                                                 f"values; or, with --verifier, a PAV prover: {PROVER_SYNTAX}")
    verifier: Path | None = Field(None, description="Q^pi verifier folder of the PAV, or a third-party PRM (hf-prm:DIR,"
                                                    " prm.json): what a bok:K or auto prover is read from (a "
                                                    "model:DIR prover is its own verifier; exact provers need none)")
    labels: Path | None = Field(None, description="label run of the Q^pi verifier: what --prover auto ranks on")
    alpha: float = Field(0.0, description="weight of the prover advantage; 0 = outcome-only RL")
    reward: RewardKind = Field("advantage", description="'q_plus_q_mu' = the hackable values-not-advantages ablation")
    step_credit: StepCredit = Field("step", description="tokens that carry a step's prover term: every token of the "
                                    "step (the paper's), or first_token, the token where the step makes its choice "
                                    "(RESULTS.md section 5b, 'The PAV's reward on the choice token only')")
    orm: Path | None = Field(None, description="outcome verifier folder or a third-party PRM (hf-prm:DIR, prm.json): "
                                               "its last value; default: the exact outcome check Rex")
    baseline: Baseline = Field("loo", description="value: learned token-level value head (the paper's; use it "
                                                  "with alpha > 0: one number per response cannot centre "
                                                  "per-step advantages, RESULTS.md section 5); loo: "
                                                  "leave-one-out over the group; none: plain REINFORCE")
    iterations: int = Field(100, ge=1)
    problems_per_iteration: int = Field(16, ge=1)
    group_size: int = Field(4, ge=1, description="responses sampled per problem")
    train_problems: int | None = Field(None, ge=1, description="size of the training pool (all if null)")
    micro_batch_size: int = Field(64, ge=1, description="responses per forward/backward (gradient accumulation)")
    lr: float = Field(1e-5, gt=0)
    value_lr: float | None = Field(None, gt=0, description="learning rate of the value model (default: lr)")
    warmup_fraction: float = Field(0.1, ge=0, lt=1, description="linear warm-up over this fraction of iterations")
    min_lr_ratio: float = Field(0.0, ge=0, le=1, description="lr at the end of the cosine decay, as a fraction")
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    kl_coef: float = Field(0.001, description="weight of the KL penalty to the initial policy")
    kl_estimator: KLEstimator = Field("k3", description="k1: in the reward (PPO); k3: in the loss (GRPO)")
    execution_kl_coef: float | None = Field(None, ge=0, description="KL weight on the tokens that carry a step's "
                                            "choice out (all but its first content token: a subset-sum line's "
                                            "result and list); kl_coef stays on the choices; null: kl_coef "
                                            "everywhere (RESULTS.md section 5b, 'What caps the gain')")
    train_execution: bool = Field(True, description="false: the policy gradient reaches only each step's first "
                                                    "content token (its choice); the tokens that carry it out "
                                                    "move only with the KL anchor and the shared weights")
    entropy_coef: float = Field(0.0, ge=0, description="weight of the token-entropy bonus (0 = off)")
    temperature: float = Field(1.0, gt=0)
    max_new_tokens: int = Field(64, ge=1)
    lora_rank: int = Field(0, ge=0, description="RL trains LoRA adapters of this rank on every linear layer but "
                                                "lm_head (needs the lora extra; RFT still tunes all weights); "
                                                "policy/ is saved merged; 0 = full fine-tuning")
    freeze_embeddings: bool = Field(False, description="RL leaves the token embeddings (and an output head tied to "
                                                       "them) as the start wrote them; the rest trains")
    lora_alpha: float = Field(16.0, gt=0, description="LoRA scale numerator: adapters add (alpha / rank) * B @ A")
    rft_steps: int = Field(0, ge=0, description="rejection fine-tuning steps on the policy's own correct samples")
    rft_problems: int = Field(256, ge=1)
    rft_samples: int = Field(8, ge=1, description="samples per problem for RFT")
    rft_batch_size: int = Field(32, ge=1)
    rft_lr: float = Field(1e-4, gt=0)
    eval_every: int = Field(10, ge=1, description="held-out test accuracy every E iterations")
    eval_problems: int = Field(128, ge=1)
    eval_split: str = Field("test", description="split of the held-out problems ('train' to watch memorisation)")
    eval_samples: int = Field(1, ge=1, description="samples per test problem")
    checkpoint_every: int = Field(10, ge=1)
    seed: int = 0
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: torch's choice)")
    device: str = "cpu"
    progress: bool = True
    tensorboard: bool = Field(False, description="also write every metrics.jsonl row as TensorBoard scalars "
                                                 "(step = iteration) to OUT/tensorboard; needs the tensorboard extra")

    @field_validator("kl_coef")
    @classmethod
    def _non_negative_kl(cls, value: float) -> float:
        if value < 0:
            raise ValueError(f"the KL coefficient must be >= 0, got {value}")
        return value

    @model_validator(mode="wrap")
    @classmethod
    def _record_only_what_is_read(cls, data: Any, handler: ModelWrapValidatorHandler[RLConfig]) -> RLConfig:
        """A prover, verifier or labels the run does not read are checked, then not recorded: alpha 0 reads
        none, a `model:` or exact prover no verifier, and only `auto` reads labels. So an ORM-RL run is the
        same run beside any PAV, and a PAV-RL run the same with or without the study's beam verifier."""
        config = handler(data)
        read = {"prover": config.alpha != 0.0, "verifier": config.alpha != 0.0 and reads_q_pi(config.prover),
                "labels": config.alpha != 0.0 and config.prover == "auto"}
        if not isinstance(data, dict) or all(read[key] or data.get(key) is None for key in PROVER_INPUTS):
            return config
        return handler({key: value for key, value in data.items() if read.get(key, True)})

    @model_validator(mode="after")
    def _consistent(self) -> RLConfig:
        needs_prover = self.alpha != 0.0
        if needs_prover and self.prover is None:
            raise ValueError(f"alpha = {self.alpha} needs a prover (--prover mu:GAMMA on planted, or --verifier DIR "
                             "--prover bok:K|model:DIR); use alpha 0 for outcome-only RL")
        if self.prover is not None and procedural_gamma(self.prover) is not None and self.task.name != "planted":
            raise ValueError(f"prover {self.prover!r} is the planted task's procedural prover, but task is "
                             f"{self.task.name!r}")
        if solver_good_move_prob(self.prover) is not None and self.task.name != "subset_sum":
            raise ValueError(f"prover {self.prover!r} is the subset_sum testbed's solver, but task is "
                             f"{self.task.name!r}")
        if needs_prover and reads_q_pi(self.prover) and self.verifier is None:
            raise ValueError(f"prover {self.prover!r} is read from a Q^pi verifier: give --verifier DIR")
        if self.baseline == "loo" and self.group_size < 2:
            raise ValueError("baseline 'loo' needs group_size >= 2 (or use baseline 'value' or 'none')")
        if self.freeze_embeddings and self.lora_rank:
            raise ValueError("freeze_embeddings with lora_rank > 0: LoRA already leaves the embeddings as they are")
        return self
