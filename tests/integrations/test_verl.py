"""The verl adapter puts pavlab's per-step PAV rewards on response tokens, with no verl and no GPU."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, decoders, models
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from pavlab.errors import PavlabError
from pavlab.integrations.verl import PAVRewardManager, returns_to_go_placement, token_char_spans
from pavlab.tasks.jsonl_task import JsonlTask
from pavlab.verifiers.model import ValueModel
from pavlab.verifiers.step_scores import ProcessVerifier

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
CHARS = list("abcdefghijklmnopqrstuvwxyz0123456789+-*=. ?\n")
ALPHA = 2.0


@pytest.fixture(scope="module")
def tokenizer() -> PreTrainedTokenizerFast:
    vocab = {token: index for index, token in enumerate(SPECIALS + CHARS)}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=backend,
                                   bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>")


@pytest.fixture(scope="module")
def verifier_dir(tmp_path_factory: pytest.TempPathFactory, tokenizer: PreTrainedTokenizerFast) -> Path:
    torch.manual_seed(0)
    backbone = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=128, bos_token_id=1, eos_token_id=2, pad_token_id=0))
    model = ValueModel.from_backbone(backbone, prover="bok:4")
    torch.nn.init.normal_(model.value_head.weight, std=1.0)  # values spread over (0, 1): advantages non-zero
    return model.save_pretrained(tmp_path_factory.mktemp("verifier"), tokenizer)


@pytest.fixture(scope="module")
def task_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("task") / "problems.jsonl"
    path.write_text(json.dumps({"question": "what is 1+2", "answer": "3"}) + "\n")
    return path


def test_returns_to_go_placement_reproduces_the_targets() -> None:
    targets = np.array([0.4, 0.4, -0.2, -0.2, 1.0])
    rewards = returns_to_go_placement(targets)
    assert np.allclose(np.cumsum(rewards[::-1])[::-1], targets)
    assert np.allclose(rewards, [0.0, 0.6, 0.0, -1.2, 1.0])


def test_token_spans_follow_the_sampled_ids(tokenizer: PreTrainedTokenizerFast) -> None:
    ids = tokenizer("ab\nc", add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
    assert token_char_spans(tokenizer, ids) == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 4)]


def verl_batch(tokenizer: PreTrainedTokenizerFast, responses: list[str], width: int = 12,
               prompt_width: int = 5) -> SimpleNamespace:
    """What verl hands a reward manager: left-padded prompts, right-padded responses, one attention mask."""
    rows, masks = [], []
    for text in responses:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        rows.append(ids + [tokenizer.pad_token_id] * (width - len(ids)))
        masks.append([0, 0, 1, 1, 1] + [1] * len(ids) + [0] * (width - len(ids)))
    return SimpleNamespace(
        batch={"prompts": torch.ones((len(responses), prompt_width), dtype=torch.long),
               "responses": torch.tensor(rows), "attention_mask": torch.tensor(masks)},
        non_tensor_batch={"reward_model": np.array([{"ground_truth": "3"}] * len(responses)),
                          "extra_info": np.array([{"question": "what is 1+2"}] * len(responses))})


def test_reward_manager_places_step_rewards_on_tokens(tokenizer: PreTrainedTokenizerFast, verifier_dir: Path,
                                                      task_file: Path) -> None:
    manager = PAVRewardManager(tokenizer, pav_verifier=str(verifier_dir), pav_prover="bok:4", pav_alpha=ALPHA,
                               pav_task={"name": "jsonl", "path": str(task_file), "grader": "exact"})
    responses = ["1+2\n3", "x\ny\nz"]
    out = manager(verl_batch(tokenizer, responses), return_dict=True)
    tensor = out["reward_tensor"]
    assert tensor.shape == (2, 12) and tensor.dtype == torch.float32

    task = JsonlTask(task_file, grader="exact")
    problem = task.problems("test")[0]
    verifier = ProcessVerifier.load(verifier_dir, "bok:4")
    for row, text in enumerate(responses):
        steps = task.split_steps(text)
        q_mu = verifier.score([task.prompt(problem)], [steps])[0].q_mu
        outcome = float(task.is_correct(text, problem))
        step_reward = outcome + ALPHA * np.diff([*q_mu[:-1], outcome])  # the final state's value is its outcome
        returns = torch.flip(torch.cumsum(torch.flip(tensor[row], [0]), 0), [0]).numpy()
        lengths = [len(step) + 1 for step in steps]  # tokens per step (its separator included); EOS joins the last
        expected = np.repeat(step_reward, lengths)
        valid = len(text) + 1
        assert np.allclose(returns[:valid], expected[:valid], atol=1e-5)
        assert np.all(tensor[row, valid:].numpy() == 0.0)
    assert float(returns[0]) != float(outcome)  # the prover's advantage actually moved the reward


def test_reward_manager_needs_the_raw_question(tokenizer: PreTrainedTokenizerFast, verifier_dir: Path,
                                               task_file: Path) -> None:
    manager = PAVRewardManager(tokenizer, pav_verifier=str(verifier_dir),
                               pav_task={"name": "jsonl", "path": str(task_file), "grader": "exact"})
    batch = verl_batch(tokenizer, ["1\n"])
    del batch.non_tensor_batch["extra_info"]
    with pytest.raises(PavlabError, match="extra_info.question"):
        manager(batch)
