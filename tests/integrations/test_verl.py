"""The verl adapter puts pavlab's per-step PAV rewards on response tokens: its pure part with no verl and no GPU,
and against verl itself (0.9.1: DataProto, the legacy reward-manager registry and call signature, the agent-loop
manager it subclasses, the shipped Hydra config composed with verl's own) where verl is installed (make test-verl)."""

from __future__ import annotations

import copy
import inspect
import json
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pytest
import torch
from tokenizers import Tokenizer, decoders, models
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from pavlab.errors import PavlabError
from pavlab.integrations.verl import (
    PAVRewardManager,
    PAVSettings,
    outcome_score,
    register_with_verl,
    returns_to_go_placement,
    token_char_spans,
    verl_rows,
    write_verl_dataset,
)
from pavlab.tasks.jsonl_task import JsonlTask
from pavlab.tasks.registry import TaskConfig
from pavlab.verifiers.model import ValueModel
from pavlab.verifiers.step_scores import ProcessVerifier

ROOT = Path(__file__).parents[2]
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


# --- verl's data rows and outcome score (no verl needed) ------------------------------------------------------------


def jsonl_config(task_file: Path) -> TaskConfig:
    return TaskConfig(name="jsonl", path=str(task_file), grader="exact")


def test_verl_rows_carry_what_the_rewards_read(task_file: Path) -> None:
    rows = verl_rows(jsonl_config(task_file), "test", None)
    assert len(rows) == 1
    row = rows[0]
    assert row["prompt"] == [{"role": "user", "content": JsonlTask(task_file, grader="exact").prompt(
        JsonlTask(task_file, grader="exact").problems("test")[0])}]
    assert row["reward_model"]["ground_truth"] == "3" and row["extra_info"]["question"] == "what is 1+2"
    info = row["extra_info"]
    assert outcome_score(row["data_source"], "1+2\n3", "3", info) == 1.0  # graded by the row's own task
    assert outcome_score(row["data_source"], "1+2\n4", "3", {**info, "num_turns": 1}) == 0.0


def test_the_pav_section_needs_a_verifier() -> None:
    with pytest.raises(PavlabError, match="pav.verifier"):
        PAVSettings({"prover": "bok:4"})


def test_verl_data_files_round_trip(task_file: Path, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    train, val = write_verl_dataset(jsonl_config(task_file), tmp_path, None, None)
    assert pq.read_table(train).to_pylist() == verl_rows(jsonl_config(task_file), "train", None)
    assert pq.read_table(val).to_pylist()[0]["extra_info"]["question"] == "what is 1+2"


# --- against verl itself (make test-verl: verl 0.9.1 in .venv-verl; skipped where verl is not installed) -------------


@pytest.fixture(scope="module")
def verl() -> ModuleType:
    return pytest.importorskip("verl", reason="verl is not installed (make test-verl)")


def dataproto(namespace: SimpleNamespace, meta_info: dict | None = None) -> Any:
    from verl import DataProto

    return DataProto.from_dict(tensors=dict(namespace.batch), non_tensors=dict(namespace.non_tensor_batch),
                               meta_info=meta_info or {})


def test_legacy_reward_manager_registers_and_reads_a_dataproto(verl: ModuleType, tokenizer: PreTrainedTokenizerFast,
                                                               verifier_dir: Path, task_file: Path) -> None:
    from verl.workers.reward_manager import get_reward_manager_cls
    from verl.workers.reward_manager.abstract import AbstractRewardManager

    assert register_with_verl() is PAVRewardManager and register_with_verl() is PAVRewardManager  # idempotent
    cls = get_reward_manager_cls("pav")
    assert cls is PAVRewardManager
    ours = inspect.signature(cls.__init__).parameters
    theirs = inspect.signature(AbstractRewardManager.__init__).parameters
    assert list(theirs)[:5] == list(ours)[:5]  # self, tokenizer, num_examine, compute_score, reward_fn_key
    assert list(inspect.signature(cls.__call__).parameters) == list(inspect.signature(
        AbstractRewardManager.__call__).parameters)
    # as verl's load_reward_manager builds it: keywords, then the reward kwargs
    manager = cls(tokenizer=tokenizer, num_examine=0, compute_score=None, reward_fn_key="data_source",
                  pav_verifier=str(verifier_dir), pav_alpha=ALPHA,
                  pav_task={"name": "jsonl", "path": str(task_file), "grader": "exact"})
    namespace = verl_batch(tokenizer, ["1+2\n3", "x\ny\nz"])
    data = dataproto(namespace)
    out = manager(data, return_dict=True)
    assert set(out) == {"reward_tensor", "reward_extra_info"}
    assert torch.equal(out["reward_tensor"], manager(namespace))
    assert torch.equal(manager(data[1:]), manager(namespace)[1:])  # a sliced DataProto reads the same


def pav_settings(verifier_dir: Path, task_file: Path) -> PAVSettings:
    return PAVSettings({"verifier": str(verifier_dir), "prover": "bok:4", "alpha": ALPHA,
                        "task": {"name": "jsonl", "path": str(task_file), "grader": "exact"}})


def rollout_output(namespace: SimpleNamespace) -> Any:
    """What verl's agent loop returns: the tensors and a scalar outcome score on each last valid token."""
    from verl import DataProto

    batch = dict(namespace.batch)
    prompt_width = batch["attention_mask"].shape[1] - batch["responses"].shape[1]
    last = batch["attention_mask"][:, prompt_width:].sum(dim=1) - 1
    scores = torch.zeros(batch["responses"].shape, dtype=torch.float32)
    scores[torch.arange(len(scores)), last] = 1.0
    return DataProto.from_dict(tensors={**batch, "rm_scores": scores}, meta_info={"timing": {}})


def test_agent_loop_manager_swaps_in_the_pav_rewards(verl: ModuleType, tokenizer: PreTrainedTokenizerFast,
                                                     verifier_dir: Path, task_file: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from verl.experimental.agent_loop import AgentLoopManager

    from pavlab.integrations.verl_agent_loop import PAVAgentLoopManager

    assert issubclass(PAVAgentLoopManager, AgentLoopManager)
    manager = PAVAgentLoopManager.__new__(PAVAgentLoopManager)  # no Ray workers: the reward path only
    manager.pav, manager.pav_tokenizer = pav_settings(verifier_dir, task_file), tokenizer
    namespace = verl_batch(tokenizer, ["1+2\n3", "x\ny\nz"])
    prompts = dataproto(SimpleNamespace(batch={"prompts": namespace.batch["prompts"]},
                                        non_tensor_batch=namespace.non_tensor_batch))
    monkeypatch.setattr(AgentLoopManager, "generate_sequences", lambda self, batch: rollout_output(namespace))
    output = manager.generate_sequences(prompts)
    expected = pav_settings(verifier_dir, task_file).rewards(tokenizer, namespace.batch, namespace.non_tensor_batch)
    assert torch.equal(output.batch["rm_scores"], expected)
    assert not torch.equal(expected, rollout_output(namespace).batch["rm_scores"])

    validation = dataproto(SimpleNamespace(batch={"prompts": namespace.batch["prompts"]},
                                           non_tensor_batch=namespace.non_tensor_batch), {"validate": True})
    assert torch.equal(manager.generate_sequences(validation).batch["rm_scores"],
                       rollout_output(namespace).batch["rm_scores"])  # validation keeps the outcome score
    with pytest.raises(PavlabError, match="rollouts for 1 prompts"):
        manager.with_pav_rewards(prompts[:1], rollout_output(namespace))


def test_the_shipped_verl_config_composes_against_verl(verl: ModuleType, task_file: Path, tmp_path: Path,
                                                       tokenizer: PreTrainedTokenizerFast) -> None:
    from hydra import compose, initialize_config_dir
    from verl.trainer.ppo.reward import get_custom_reward_fn
    from verl.trainer.ppo.utils import need_critic, need_reference_policy
    from verl.utils.config import validate_config
    from verl.utils.import_utils import load_class_from_fqn

    from pavlab.integrations.verl_agent_loop import PAVAgentLoopManager

    model = tmp_path / "policy"  # verl reads the model's config while validating
    LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                 num_attention_heads=2, num_key_value_heads=2)).save_pretrained(model)
    tokenizer.save_pretrained(model)
    pytest.importorskip("pyarrow")
    write_verl_dataset(jsonl_config(task_file), tmp_path, None, None)
    with initialize_config_dir(config_dir=str(ROOT / "integrations" / "verl"), version_base=None):
        config = compose("verl_pav", overrides=[
            f"data.train_files={tmp_path}/train.parquet", f"data.val_files={tmp_path}/val.parquet",
            f"actor_rollout_ref.model.path={model}", f"pav.verifier={tmp_path}/verifier"])
    validate_config(config=config, use_reference_policy=need_reference_policy(config), use_critic=need_critic(config))
    assert need_critic(config) and not need_reference_policy(config)
    assert config.algorithm.adv_estimator == "gae" and config.algorithm.gamma == 1.0 and config.algorithm.lam == 1.0
    assert config.critic.model.path == str(model) and config.trainer.use_v1 is False
    assert config.actor_rollout_ref.rollout.name == "vllm"
    manager = load_class_from_fqn(config.actor_rollout_ref.rollout.agent.agent_loop_manager_class, "AgentLoopManager")
    assert manager is PAVAgentLoopManager
    score = get_custom_reward_fn(config)
    row = verl_rows(jsonl_config(task_file), "test", None)[0]
    assert score(data_source=row["data_source"], solution_str="1+2\n3", ground_truth="3",
                 extra_info=row["extra_info"]) == 1.0
    assert PAVSettings(config.pav).verifier_path == f"{tmp_path}/verifier"


def test_verl_reads_the_data_rows(verl: ModuleType, task_file: Path, tmp_path: Path,
                                  tokenizer: PreTrainedTokenizerFast) -> None:
    """verl's own RLHFDataset, with the shipped config's data section, reads what `write_verl_dataset` writes."""
    pytest.importorskip("pyarrow")
    from hydra import compose, initialize_config_dir
    from verl.utils.dataset.rl_dataset import RLHFDataset

    write_verl_dataset(jsonl_config(task_file), tmp_path, None, None)
    with initialize_config_dir(config_dir=str(ROOT / "integrations" / "verl"), version_base=None):
        config = compose("verl_pav", overrides=[
            f"data.train_files={tmp_path}/train.parquet", f"data.val_files={tmp_path}/val.parquet",
            f"actor_rollout_ref.model.path={tmp_path}", f"pav.verifier={tmp_path}/verifier"])
    chat = copy.copy(tokenizer)
    chat.chat_template = "{% for m in messages %}{{ m['content'] }}\n{% endfor %}"
    dataset = RLHFDataset(data_files=config.data.train_files, tokenizer=chat, config=config.data, processor=None)
    item = dataset[0]
    assert len(dataset) == 1 and item["reward_model"]["ground_truth"] == "3"
    assert item["extra_info"]["question"] == "what is 1+2"  # what the PAV reward reads
    assert outcome_score(item["data_source"], "1+2\n3", "3", item["extra_info"]) == 1.0
