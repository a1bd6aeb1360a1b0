"""The policy interface every generation backend implements, and its compute meter.

A backend samples continuations of (prompt, response-prefix) pairs, stopping at the end of the
next step (`stop="step"`) or of the whole response (`stop="response"`), and charges every call
to its `ComputeMeter` so search and RL can be compared at equal compute.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass
from typing import Literal

from pydantic import Field

from pavlab.config import Config
from pavlab.errors import PavlabError

StopAt = Literal["step", "response"]


@dataclass
class SamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 256
    stop: StopAt = "response"
    seed: int | None = None


class GenerationConfig(Config):
    """The sampling settings a job's config exposes; `params` turns them into a backend call's SamplingParams."""

    temperature: float = Field(1.0, ge=0.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    max_new_tokens: int = Field(256, gt=0, description="per response (or per step when stepping)")

    def params(self, stop: StopAt = "response", seed: int | None = None) -> SamplingParams:
        return SamplingParams(self.temperature, self.top_p, self.max_new_tokens, stop, seed)


@dataclass
class Completion:
    """One sampled continuation. `finished` is True when the response ended (EOS), not just the step."""

    text: str
    token_ids: list[int]
    logprobs: list[float]
    finish_reason: Literal["step", "eos", "length"]

    @property
    def finished(self) -> bool:
        return self.finish_reason != "step"


@dataclass
class ComputeMeter:
    """Counts what generation costs: prompt tokens prefilled, tokens generated, forward passes, samples."""

    prompt_tokens: int = 0
    generated_tokens: int = 0
    forward_passes: int = 0
    samples: int = 0
    verifier_tokens: int = 0
    verifier_passes: int = 0

    def snapshot(self) -> dict[str, int]:
        return asdict(self)

    def since(self, before: dict[str, int]) -> dict[str, int]:
        return {key: value - before[key] for key, value in asdict(self).items()}


class PolicyBackend(ABC):
    """Generation behind one interface (HF transformers, vLLM, procedural policies)."""

    def __init__(self, step_separator: str = "\n") -> None:
        self.step_separator = step_separator
        self.meter = ComputeMeter()

    @staticmethod
    def check_request(prompts: list[str], prefixes: list[str], n: int, params: SamplingParams) -> None:
        """One-line errors for requests no backend can serve; every backend calls this first."""
        if len(prompts) != len(prefixes):
            raise PavlabError(f"{len(prompts)} prompts but {len(prefixes)} prefixes")
        if n < 1:
            raise PavlabError(f"n must be >= 1, got {n}", field="n")
        if params.temperature < 0:
            raise PavlabError(f"temperature must be >= 0, got {params.temperature}", field="temperature")
        if not 0 < params.top_p <= 1:
            raise PavlabError(f"top_p must be in (0, 1], got {params.top_p}", field="top_p")
        if params.max_new_tokens < 1:
            raise PavlabError(f"max_new_tokens must be >= 1, got {params.max_new_tokens}", field="max_new_tokens")
        if params.stop not in ("step", "response"):
            raise PavlabError(f"stop must be 'step' or 'response', got {params.stop!r}", field="stop")

    @abstractmethod
    def sample(self, prompts: list[str], prefixes: list[str], n: int,
               params: SamplingParams) -> list[list[Completion]]:
        """For each (prompt, prefix) pair, `n` continuations of the response prefix.

        `prompts[i]` is the task prompt (the backend applies a chat template if it has one);
        `prefixes[i]` is the response text so far (steps each ending with the separator).
        Returns one list of `n` completions per pair, in order.
        """

    def reusing_prefixes(self) -> AbstractContextManager[None]:
        """A block of calls that each extend the last call's completions by a step (beam search): a backend
        may keep the last call's work to resume from (the HF backend does); by default nothing changes."""
        return nullcontext()

    def retain_prefixes(self, prompts: Sequence[str], prefixes: Sequence[str]) -> None:
        """Within `reusing_prefixes`: the (prompt, prefix) pairs the next call extends; the rest may be freed."""
        return None
