import random

import pytest
import torch
from pydantic import ValidationError
from transformers import AutoTokenizer, LlamaForCausalLM

from pavlab.errors import PavlabError
from pavlab.io import read_json
from pavlab.policies.base import SamplingParams
from pavlab.policies.loading import load_policy
from pavlab.policies.testbed import (
    COUNTDOWN_SYMBOLS,
    TESTBED_FILE,
    TestbedConfig,
    build_model,
    countdown_traces,
    encode_examples,
    response_nll,
    train_testbed,
)
from pavlab.policies.testbed_tokenizer import build_number_tokenizer
from pavlab.policies.tokenization import encode_prompt, encode_response
from pavlab.policies.traces import countdown_trace
from pavlab.tasks.countdown import CountdownTask, apply_steps
from pavlab.tasks.planted import PlantedTask

TOKENIZER = build_number_tokenizer(200, COUNTDOWN_SYMBOLS)
TINY = TestbedConfig(n_train_problems=300, n_traces=600, hidden_size=32, intermediate_size=64, num_layers=2,
                     num_heads=2, steps=60, batch_size=32, lr=1e-2, warmup_steps=5, progress=False,
                     threads=1)


def test_tokenizer_round_trips_prompts_and_traces_with_offsets():
    problems, traces = countdown_traces(TestbedConfig(), "val", 50, seed=1)
    texts = [p.question for p in problems] + traces + ["390625 * 10 = 3906250 | 3906250", "12 + 7 = 19\n"]
    for text in texts:
        ids, spans = encode_response(TOKENIZER, text)
        assert TOKENIZER.unk_token_id not in ids
        assert TOKENIZER.decode(ids) == text
        assert "".join(text[a:b] for a, b in spans) == text
        assert all(TOKENIZER.decode([i]) == text[a:b] for i, (a, b) in zip(ids, spans, strict=True))


def test_numbers_are_single_tokens_and_newline_is_its_own_token():
    ids, _ = encode_response(TOKENIZER, "12 + 7 = 19 | 3 19 25\n19 * 3 = 57")
    tokens = TOKENIZER.convert_ids_to_tokens(ids)
    assert tokens[:5] == ["12", " +", " 7", " =", " 19"]
    assert "\n" in tokens and tokens[tokens.index("\n") + 1] == "19"
    assert encode_prompt(TOKENIZER, "3 7 12 25 -> 24")[0] == TOKENIZER.bos_token_id
    assert len(TOKENIZER) < 450
    assert None not in (TOKENIZER.eos_token_id, TOKENIZER.pad_token_id, TOKENIZER.bos_token_id)


def test_traces_are_valid_until_a_slip_and_respect_the_result_bound():
    task = CountdownTask()
    problems = task.problems("train", 200, seed=0)
    rng = random.Random(0)
    perfect = [countdown_trace(p, rng, 1.0, 0.0, 200, True) for p in problems]
    assert all(task.is_correct(t, p) for t, p in zip(perfect, problems, strict=True))
    noisy = [countdown_trace(p, rng, 0.0, 0.0, 30, False) for p in problems]
    assert all(apply_steps(p.meta["numbers"], t.split("\n")) is not None for t, p in zip(noisy, problems,
                                                                                         strict=True))
    results = [int(line.split("=")[1]) for t in noisy for line in t.split("\n")]
    assert max(results) <= 30 and "|" not in "".join(noisy)
    assert 0 < sum(task.is_correct(t, p) for t, p in zip(noisy, problems, strict=True)) < len(problems)


def test_encode_examples_puts_labels_on_response_and_eos_only():
    batch = encode_examples(TOKENIZER, ["2 3 -> 6", "2 3 5 -> 11"], ["2 * 3 = 6", "2 * 3 = 6\n6 + 5 = 11"])
    prompt_len = len(encode_prompt(TOKENIZER, "2 3 -> 6"))
    first = batch["labels"][0].tolist()
    assert first[:prompt_len] == [-100] * prompt_len
    assert [t for t in first if t != -100] == encode_response(TOKENIZER, "2 * 3 = 6")[0] + [TOKENIZER.eos_token_id]
    assert batch["attention_mask"][0].sum() < batch["attention_mask"][1].sum()


def test_bad_config_and_task_are_rejected(tmp_path):
    with pytest.raises(ValidationError):
        TestbedConfig(steps=0)
    with pytest.raises(ValidationError):
        TestbedConfig(no_such_field=1)
    with pytest.raises(PavlabError):
        train_testbed("chess", tmp_path, TINY)


def test_tiny_testbed_learns_and_beats_random_init_on_held_out_traces(tmp_path):
    out = train_testbed("countdown", tmp_path / "tb", TINY)
    info = read_json(out / TESTBED_FILE)
    assert info["task"] == "countdown" and info["task_options"]["n_numbers"] == 4
    assert info["loss_last"] < info["loss_first"] - 1.0
    tokenizer = AutoTokenizer.from_pretrained(out)
    model = LlamaForCausalLM.from_pretrained(out).eval()
    problems, traces = countdown_traces(TINY, "val", 128, seed=7)
    batch = encode_examples(tokenizer, [p.question for p in problems], traces)
    with torch.no_grad():
        trained = response_nll(model, batch).item()
        untrained = response_nll(build_model(TINY, tokenizer).eval(), batch).item()
    assert trained < untrained - 1.0


def test_planted_testbed_trains_on_prover_samples_and_loads_as_a_policy(tmp_path):
    config = TINY.model_copy(update={"n_train_problems": 40, "n_traces": 160, "steps": 40})
    out = train_testbed("planted", tmp_path / "planted", config)
    record = read_json(out / "testbed.json")
    assert record["task"] == "planted" and record["sft_gamma"] == 5.0
    assert record["loss_last"] < record["loss_first"] - 0.5
    task = PlantedTask()
    problem = task.problems("test", 1)[0]
    policy = load_policy(str(out))
    completion = policy.sample([task.prompt(problem)], [""], 1, SamplingParams(seed=0, stop="step"))[0][0]
    assert completion.text.endswith("\n") or completion.finished
