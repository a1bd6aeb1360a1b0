"""LoRA RL runs (the `lora` extra): only adapters train, the saved policy is merged, resume is exact."""

import importlib.util
import sys

import pytest
import torch
from safetensors.torch import load_file

from pavlab.errors import PavlabError
from pavlab.policies.base import SamplingParams
from pavlab.policies.loading import load_model_and_tokenizer, load_policy
from pavlab.rl.trainer import RLTrainer, run_rl
from pavlab.tasks.planted import PlantedTask
from pavlab.training import CHECKPOINT_FILE

needs_peft = pytest.mark.skipif(importlib.util.find_spec("peft") is None, reason="needs pavlab[lora] (peft)")

RANK, ALPHA = 4, 8.0
TIMING_FIELDS = {"seconds", "scoring_seconds"}
LORA = {"lora_rank": RANK, "lora_alpha": ALPHA, "lr": 3e-2, "kl_coef": 0.05, "warmup_fraction": 0.0}


@pytest.fixture
def start_policy(tmp_path, make_planted_policy):
    return make_planted_policy(tmp_path / "start", PlantedTask().problems("train", 8), sft_steps=20)


@pytest.fixture
def lora_config(make_rl_config):
    return lambda policy, out, **overrides: make_rl_config(policy, out, **{**LORA, **overrides})


def weights(folder):
    return load_file(str(folder / "model.safetensors"))


def state_of(folder):
    """Every tensor of the loaded model, the tied lm_head included (the safetensors file omits it)."""
    return load_model_and_tokenizer(str(folder), "cpu")[0].state_dict()


def adapter_pairs(state):
    """{module name: (A, B)} of every LoRA-wrapped linear layer in a checkpointed policy state dict."""
    return {key.removesuffix(".lora_A.default.weight"): (state[key], state[key.replace("lora_A", "lora_B")])
            for key in state if key.endswith(".lora_A.default.weight")}


@needs_peft
def test_lora_run_trains_only_the_adapters_and_saves_a_merged_policy(tmp_path, start_policy, lora_config):
    run_dir = run_rl(lora_config(start_policy, tmp_path / "run", iterations=3, checkpoint_every=3))
    start = state_of(start_policy)
    state = torch.load(run_dir / CHECKPOINT_FILE, weights_only=True)
    policy, reference = state["policy"], state["reference"]

    pairs = adapter_pairs(policy)
    linears = [name for name, module in load_model_and_tokenizer(str(start_policy), "cpu")[0].named_modules()
               if isinstance(module, torch.nn.Linear) and name != "lm_head"]
    assert sorted(pairs) == sorted(linears) and all(a.shape[0] == RANK for a, _ in pairs.values())
    assert all(torch.count_nonzero(b) > 0 for _, b in pairs.values())  # B starts at zero: every adapter moved
    base = {key.replace(".base_layer", ""): value for key, value in policy.items() if "lora_" not in key}
    assert base.keys() == start.keys()
    for name, value in base.items():  # embeddings, norms and every wrapped linear's base weight stay frozen
        torch.testing.assert_close(value, start[name], rtol=0, atol=0)
    assert reference.keys() == start.keys()  # the KL reference is the starting policy, without adapters
    for name, value in reference.items():
        torch.testing.assert_close(value, start[name], rtol=0, atol=0)

    assert weights(run_dir / "policy").keys() == weights(start_policy).keys()  # no adapter or base_layer tensors
    merged = state_of(run_dir / "policy")
    for module, (a, b) in pairs.items():
        expected = start[f"{module}.weight"] + (ALPHA / RANK) * b @ a
        torch.testing.assert_close(merged[f"{module}.weight"], expected, rtol=1e-5, atol=1e-6)
    untouched = set(start) - {f"{module}.weight" for module in pairs}
    assert untouched and all(torch.equal(merged[name], start[name]) for name in untouched)


@needs_peft
def test_merged_lora_policy_loads_as_a_plain_checkpoint_with_the_trained_outputs(tmp_path, start_policy,
                                                                                  lora_config):
    config = lora_config(start_policy, tmp_path / "run", iterations=2, checkpoint_every=1)
    run_dir = run_rl(config)
    merged, _ = load_model_and_tokenizer(str(run_dir / "policy"), "cpu")
    assert type(merged).__name__ == "LlamaForCausalLM"
    adapted = RLTrainer(config, run_dir).model  # reopening the finished run restores the unmerged adapters
    assert any("lora_A" in name for name, _ in adapted.named_parameters())
    ids = torch.tensor([[1, 5, 6, 7, 8, 9, 3]])
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, adapted(ids).logits, rtol=1e-4, atol=1e-5)

    task = PlantedTask()
    groups = load_policy(str(run_dir / "policy")).sample([task.prompt(task.problems("test", 1)[0])], [""], 3,
                                                         SamplingParams(max_new_tokens=8, seed=3))
    assert len(groups[0]) == 3 and all(c.token_ids for c in groups[0])


@needs_peft
def test_killed_lora_run_resumes_with_the_same_next_update(tmp_path, start_policy, lora_config, run_killed,
                                                           read_metrics):
    settings = {"iterations": 3, "checkpoint_every": 1, "baseline": "value", "eval_every": 2}
    run_rl(lora_config(start_policy, tmp_path / "straight", **settings))
    resumed = tmp_path / "resumed"
    run_killed(lora_config(start_policy, resumed, **settings), at_step=3)  # after checkpoint 2
    assert torch.load(resumed / CHECKPOINT_FILE, weights_only=True)["iteration"] == 2
    run_rl(lora_config(start_policy, resumed, **settings))

    straight, again = weights(tmp_path / "straight" / "policy"), weights(resumed / "policy")
    assert straight.keys() == again.keys()
    for name in straight:
        torch.testing.assert_close(again[name], straight[name], rtol=0, atol=0)

    def untimed(run_dir):
        return [{k: v for k, v in row.items() if k not in TIMING_FIELDS} for row in read_metrics(run_dir)]

    assert untimed(resumed) == untimed(tmp_path / "straight")
    start = weights(start_policy)
    assert any(not torch.equal(start[name], straight[name]) for name in start)  # the updates did something


def test_missing_peft_is_a_one_line_error_before_the_run_folder_or_model(tmp_path, monkeypatch, lora_config):
    monkeypatch.setitem(sys.modules, "peft", None)  # `import peft` now raises ImportError
    with pytest.raises(PavlabError, match=r"field 'lora_rank': .*pip install 'pavlab\[lora\]'"):
        run_rl(lora_config(tmp_path / "no-such-policy", tmp_path / "run", iterations=1))
    assert not (tmp_path / "run").exists()


def test_cli_prints_the_install_hint_with_its_extra(tmp_path, monkeypatch, run_cli):
    """Rich markup must not eat `[lora]` from the one-line error."""
    monkeypatch.setitem(sys.modules, "peft", None)
    code, _, err = run_cli("rl", "--task", "planted", "--policy", str(tmp_path / "p"), "--lora_rank", "4",
                           "--out", str(tmp_path / "run"))
    assert code == 2 and "pip install 'pavlab[lora]'" in err and len(err.strip().splitlines()) == 1
