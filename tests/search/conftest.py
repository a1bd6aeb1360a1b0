"""Search fixtures: a weak countdown policy, a tiny random Llama policy and a random PAV on a small vocabulary.

Builders reach tests as fixtures (not imports), which works under pytest's importlib mode.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator

import pytest
import torch
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from pavlab import testing
from pavlab.policies.base import Completion, PolicyBackend, SamplingParams
from pavlab.policies.hf import HFPolicy
from pavlab.policies.prover_spec import Prover
from pavlab.tasks.countdown import CountdownTask, after_move, apply_steps, valid_moves
from pavlab.verifiers.model import ValueModel
from pavlab.verifiers.step_scores import ProcessVerifier

_QUESTION = re.compile(r"([0-9 ]+) -> ([0-9]+)")


class RandomMovePolicy(PolicyBackend):
    """A weak countdown policy: every step is a uniformly random legal move; it stops at the target or one number.

    A step costs one token per word plus the newline, so token counts look like the testbed's.
    """

    def __init__(self, task: CountdownTask) -> None:
        super().__init__(task.step_separator)
        self.task = task

    def sample(self, prompts: list[str], prefixes: list[str], n: int,
               params: SamplingParams) -> list[list[Completion]]:
        rng = random.Random(params.seed)
        result = []
        for prompt, prefix in zip(prompts, prefixes, strict=True):
            numbers, target = _QUESTION.fullmatch(prompt).groups()  # type: ignore[union-attr]
            outcome = apply_steps([int(x) for x in numbers.split()], self.task.split_steps(prefix))
            result.append([self._continue(outcome[0], int(target), params, rng) for _ in range(n)])  # type: ignore[index]
        self.meter.samples += n * len(prompts)
        return result

    def _continue(self, state: tuple[int, ...], target: int, params: SamplingParams,
                  rng: random.Random) -> Completion:
        lines, reason = [], "eos"
        while len(state) > 1:
            move = rng.choice(list(valid_moves(state)))
            state = after_move(state, move)
            lines.append(move.text(state))
            if move.result == target:
                break
            if len(state) > 1 and params.stop == "step":
                reason = "step"
                break
        text = "".join(line + "\n" for line in lines)
        tokens = len(text.split()) + len(lines) + (reason == "eos")
        self.meter.generated_tokens += tokens
        return Completion(text=text, token_ids=[0] * tokens, logprobs=[0.0] * tokens, finish_reason=reason)  # type: ignore[arg-type]


def tiny_llama(tokenizer: PreTrainedTokenizerFast, seed: int = 0) -> LlamaForCausalLM:
    return testing.tiny_llama(tokenizer, seed, tie=True)


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny models run far faster on one thread than on two contended ones (the dev box is shared)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def small_countdown() -> CountdownTask:
    return CountdownTask(n_numbers=3, max_number=9)


@pytest.fixture
def tokenizer() -> PreTrainedTokenizerFast:
    return testing.countdown_tokenizer()


@pytest.fixture
def hf_policy(tokenizer: PreTrainedTokenizerFast) -> HFPolicy:
    return HFPolicy(tiny_llama(tokenizer), tokenizer)


@pytest.fixture
def random_verifier(tokenizer: PreTrainedTokenizerFast) -> ProcessVerifier:
    return ProcessVerifier(testing.random_value_model(tokenizer), tokenizer, Prover.parse("bok:4"))


@pytest.fixture
def random_move_policy() -> Callable[[CountdownTask], RandomMovePolicy]:
    return RandomMovePolicy


@pytest.fixture
def model_builders() -> tuple[Callable[..., LlamaForCausalLM], Callable[..., ValueModel]]:
    return tiny_llama, testing.random_value_model
