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
    ShippedTestbedConfig,
    TestbedConfig,
    build_model,
    countdown_traces,
    encode_examples,
    response_nll,
    run_shipped_testbed,
    train_testbed,
)
from pavlab.policies.testbed_tokenizer import build_number_tokenizer
from pavlab.policies.tokenization import encode_prompt, encode_response
from pavlab.policies.traces import countdown_trace
from pavlab.tasks.base import Problem
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


def test_five_number_traces_at_the_defaults_never_run_out_of_moves():
    # A slip used to write results up to max_result + 3, leaving states such as (2, 103) with no
    # move under the bound: `train-testbed --task.n_numbers 5` crashed with an IndexError.
    config = TestbedConfig(n_numbers=5, n_train_problems=400)
    problems, traces = countdown_traces(config, "train", 4000, seed=0)
    results = [int(line.split("=")[1].split("|")[0]) for t in traces for line in t.split("\n") if line]
    assert len(traces) == 4000 and max(results) <= config.max_result
    rng = random.Random(1)
    stuck = Problem(id="p", question="2 103 -> 5", answer="5", meta={"numbers": [2, 103], "target": 5})
    assert countdown_trace(stuck, rng, 0.5, 0.5, 100, True) == ""  # no move fits under the bound: no line


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
    with pytest.raises(ValidationError, match="subset_sum option"):
        TestbedConfig(task="countdown", smallest_first_prob=0.5)
    with pytest.raises(ValidationError, match="coverage_traces is a subset_sum option"):
        TestbedConfig(task="countdown", coverage_traces=10)
    with pytest.raises(ValidationError, match="needs coverage_traces"):
        TestbedConfig(task="subset_sum", coverage_good_move_prob=0.3)


def test_the_smallest_first_habit_is_recorded_only_when_used_and_lowers_the_trace_success():
    from pavlab.policies.testbed import subset_sum_sft_data

    plain = TINY.model_copy(update={"task": "subset_sum", "min_take": 6, "max_take": 7})
    habit = plain.model_copy(update={"smallest_first_prob": 0.9})
    assert "smallest_first_prob" not in plain.recorded() and habit.recorded()["smallest_first_prob"] == 0.9
    plain_rate = subset_sum_sft_data(plain).record["trace_success_rate"]
    assert subset_sum_sft_data(habit).record["trace_success_rate"] < plain_rate / 3


def test_a_coverage_example_scores_every_response_token_but_each_lines_choice():
    from pavlab.policies.testbed import SUBSET_SUM_SYMBOLS, encode_example, encode_execution_example

    tokenizer = build_number_tokenizer(150, SUBSET_SUM_SYMBOLS)
    prompt, response = "3 7 10 14 -> 24", "10 -> 14 | 3 7 14\n14 -> 0 | 3 7"
    ids, labels = encode_execution_example(tokenizer, prompt, response)
    plain_ids, plain_labels = encode_example(tokenizer, prompt, response)
    assert ids == plain_ids
    dropped = [tokenizer.convert_ids_to_tokens(label) for label, masked in zip(plain_labels, labels, strict=True)
               if label != -100 and masked == -100]
    assert dropped == ["10", "14"]  # the two chosen numbers, not the "14" and "0" results after them
    assert sum(label != -100 for label in labels) == sum(label != -100 for label in plain_labels) - 2
    assert labels[-1] == tokenizer.eos_token_id  # when to stop is execution: scored


def test_coverage_traces_add_unscored_choice_rows_of_the_plain_solver_and_are_recorded_only_when_used():
    from pavlab.policies.testbed import subset_sum_sft_data

    habit = TINY.model_copy(update={"task": "subset_sum", "min_take": 6, "max_take": 7, "good_move_prob": 1.0,
                                    "smallest_first_prob": 0.9})
    covered = habit.model_copy(update={"coverage_traces": 300, "coverage_good_move_prob": 1.0})
    assert "coverage_traces" not in habit.recorded()
    assert covered.recorded()["coverage_traces"] == 300 and covered.recorded()["coverage_good_move_prob"] == 1.0
    plain, data = subset_sum_sft_data(habit), subset_sum_sft_data(covered)
    assert len(data.rows) == len(plain.rows) + 300 and data.rows[:len(plain.rows)] == plain.rows
    # the coverage solver plays without the habit: every trace of the perfect solver succeeds
    assert data.record["coverage_trace_success_rate"] == 1.0 > 3 * data.record["trace_success_rate"]
    unscored = [sum(label == -100 for label in labels) for _, labels in data.rows]
    assert all(a < b for a, b in zip(unscored[:3], unscored[-3:], strict=True))  # same prompt length


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


def test_planted_distillation_targets_are_mu_gammas_exact_step_distribution():
    """Each soft step favours y*_{k+1} in match state k (uniform once y* is matched); prompt tokens are never soft."""
    from pavlab.policies.testbed import planted_sft_data
    from pavlab.tasks.planted import TOKENS, match_states, prover_probs, target_of

    config = TINY.model_copy(update={"n_train_problems": 30, "n_traces": 120, "planted_distill": True})
    data = planted_sft_data(config)
    assert data.soft is not None and data.record["distilled"] and len(data.soft.steps) == len(data.rows)
    tokenizer, task = data.tokenizer, PlantedTask()
    problems = task.problems("train", 30, seed=config.seed)
    for r, ((ids, labels), steps) in enumerate(zip(data.rows, data.soft.steps, strict=True)):
        problem = problems[r // 4]
        prompt_length = len(encode_prompt(tokenizer, task.prompt(problem)))
        assert len(steps) == 10 and all(i >= prompt_length and labels[i] == ids[i] for i, _ in steps)
        tokens = [int(tokenizer.convert_ids_to_tokens(ids[i])) for i, _ in steps]
        target = target_of(problem)
        for (_, favoured), state in zip(steps, match_states(target, tokens), strict=False):
            weights = [data.soft.boost if index == favoured else 1.0 for index in range(len(TOKENS))]
            expected = prover_probs(target, state, 5.0)
            assert [w / sum(weights) for w in weights] == pytest.approx(expected)


def test_distillation_loss_is_cross_entropy_to_the_teacher_and_hard_ce_elsewhere():
    from pavlab.policies.testbed import SoftTargets, collate, distillation_nll

    torch.manual_seed(0)
    tokenizer = build_number_tokenizer(14, [])
    model = build_model(TINY, tokenizer).eval()
    rows = [([1, 5, 6, 7, 8, 2], [-100, -100, 6, 7, 8, 2]), ([1, 9, 10, 2], [-100, -100, 10, 2])]
    batch = collate(rows, tokenizer.pad_token_id)
    token_ids = [5, 6, 7]
    soft = SoftTargets(token_ids, boost=4.0, steps=[])
    with torch.no_grad():
        assert distillation_nll(model, batch, soft, []).item() == pytest.approx(response_nll(model, batch).item(),
                                                                               rel=1e-5)
        logp = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits.log_softmax(-1)
        soft_loss = distillation_nll(model, batch, soft, [(0, 3, 1), (1, 2, -1)]).item()
    teacher = torch.tensor([1.0, 4.0, 1.0]) / 6.0
    terms = [-logp[0, 1, 6], -(teacher * logp[0, 2, token_ids]).sum(), -logp[0, 3, 8], -logp[0, 4, 2],
             -logp[1, 1, token_ids].mean(), -logp[1, 2, 2]]
    assert soft_loss == pytest.approx(torch.stack(terms).mean().item(), rel=1e-5)


def test_distilled_planted_testbed_trains(tmp_path):
    config = TINY.model_copy(update={"n_train_problems": 40, "n_traces": 160, "steps": 40, "planted_distill": True})
    record = read_json(train_testbed("planted", tmp_path / "planted", config) / "testbed.json")
    assert record["distilled"] and record["loss_last"] < record["loss_first"] - 0.5


def test_planted_trace_gamma_needs_distillation():
    from pavlab.policies.testbed import planted_sft_data

    with pytest.raises(PavlabError, match="planted_trace_gamma"):
        planted_sft_data(TINY.model_copy(update={"n_train_problems": 4, "n_traces": 8, "planted_trace_gamma": 15.0}))
    data = planted_sft_data(TINY.model_copy(update={"n_train_problems": 4, "n_traces": 8, "planted_trace_gamma": 15.0,
                                                    "planted_distill": True}))
    assert data.record["trace_gamma"] == 15.0 and data.soft is not None and data.soft.boost == 5.0


def test_run_shipped_testbed_copies_the_checkpoint_and_returns_its_folder(tmp_path):
    out = run_shipped_testbed(ShippedTestbedConfig(task="planted", out=tmp_path / "policy"))
    assert out == tmp_path / "policy" and read_json(out / TESTBED_FILE)["task"] == "planted"
    assert ShippedTestbedConfig(out=tmp_path).task == "subset_sum"
    with pytest.raises(PavlabError, match="no shipped testbed policy 'chess'"):
        run_shipped_testbed(ShippedTestbedConfig(task="chess", out=tmp_path / "x"))


def test_shipped_testbed_command(run_cli, tmp_path):
    code, out, err = run_cli("policy", "shipped-testbed", "--task", "planted", "--out", str(tmp_path / "p"))
    assert code == 0, err
    assert "copied the shipped planted testbed policy" in " ".join(out.split())
    assert (tmp_path / "p" / TESTBED_FILE).is_file()
    code, out, err = run_cli("policy", "shipped-testbed", "--task", "subset_sum_habit", "--out", str(tmp_path / "h"))
    assert code == 0, err
    habit = read_json(tmp_path / "h" / TESTBED_FILE)  # a named start: its record names its task and options
    assert habit["task"] == "subset_sum" and habit["config"]["coverage_traces"] > 0
    assert habit["task_options"]["min_take"] == 6
    code, _, err = run_cli("policy", "shipped-testbed", "--task", "chess", "--out", str(tmp_path / "q"))
    assert code == 2 and "no shipped testbed" in err and "Traceback" not in err


SHIPPED_PLANTED_COMMAND = (  # the command the shipped planted start was trained with (studies/rl.py docstring)
    "--task planted --hidden_size 64 --intermediate_size 192 --num_layers 2 --num_heads 4 --steps 10000 "
    "--batch_size 64 --lr 3e-3 --planted_distill true --planted_trace_gamma 30 --planted_sft_gamma 5 "
    "--n_train_problems 8000 --n_traces 240000 --threads 1").split()


def _response_steps(tokenizer, ids: list[int], labels: list[int]) -> int:
    """Content tokens (the planted task's steps) among a row's labelled tokens."""
    return sum(label != -100 and tokenizer.convert_ids_to_tokens(label).isdigit() for label in labels)


def test_planted_horizon_is_an_option_read_from_horizon_or_task_horizon():
    from pavlab.config import load_config

    for flags in (["--horizon", "15"], ["--task.horizon", "15"], ["--horizon", "15", "--task.horizon", "15"]):
        config = load_config(TestbedConfig, overrides=["--task", "planted", *flags])
        assert config.task == "planted" and config.horizon == 15 and config.recorded()["horizon"] == 15
    with pytest.raises(PavlabError, match="planted-task option"):
        load_config(TestbedConfig, overrides=["--task", "countdown", "--horizon", "15"])
    with pytest.raises(PavlabError, match="differ"):
        load_config(TestbedConfig, overrides=["--task", "planted", "--task.horizon", "15", "--horizon", "20"])
    with pytest.raises(PavlabError, match="horizon"):
        load_config(TestbedConfig, overrides=["--task", "planted", "--horizon", "4"])


def test_default_horizon_leaves_traces_and_the_shipped_record_unchanged():
    from pavlab.config import load_config
    from pavlab.policies.testbed import planted_sft_data, shipped_testbed

    # unset, the horizon is not recorded: the shipped start's recorded config is what its command gives
    shipped = read_json(shipped_testbed("planted") / TESTBED_FILE)
    config = load_config(TestbedConfig, overrides=SHIPPED_PLANTED_COMMAND)
    assert config.horizon is None and config.recorded() == shipped["config"] and shipped["task_options"] == {}
    data = planted_sft_data(TINY.model_copy(update={"n_train_problems": 6, "n_traces": 12, "planted_distill": True}))
    assert data.record["task_options"] == {}
    assert {_response_steps(data.tokenizer, *row) for row in data.rows} == {10}
    assert {len(steps) for steps in data.soft.steps} == {10}


def test_planted_testbed_at_a_longer_horizon_trains_on_traces_of_that_length(tmp_path):
    from pavlab.policies.testbed import planted_sft_data

    config = TINY.model_copy(update={"n_train_problems": 20, "n_traces": 40, "steps": 3, "planted_distill": True,
                                     "planted_trace_gamma": 30.0, "horizon": 15})
    data = planted_sft_data(config)
    assert data.record["task_options"] == {"horizon": 15}
    # every trace is 15 steps (then EOS), and every one of them is scored against mu_5's exact distribution
    assert {_response_steps(data.tokenizer, *row) for row in data.rows} == {15}
    assert all(row[1][-1] == data.tokenizer.eos_token_id for row in data.rows)
    assert {len(steps) for steps in data.soft.steps} == {15}
    # mu_30 over 15 steps succeeds far more often than over the default 10 (exact: 0.61 vs 0.42)
    assert data.record["trace_success_rate"] > 0.5
    out = train_testbed("planted", tmp_path / "h15", config)
    record = read_json(out / TESTBED_FILE)
    assert record["task_options"] == {"horizon": 15} and record["config"]["horizon"] == 15
    task = PlantedTask(**record["task_options"])
    problem = task.problems("test", 1)[0]
    completion = load_policy(str(out)).sample([task.prompt(problem)], [""], 1,
                                              SamplingParams(max_new_tokens=34, seed=0))[0][0]
    assert completion.text == "" or task.split_steps(completion.text)


def test_a_long_horizon_gets_the_positions_it_needs(tmp_path):
    config = TINY.model_copy(update={"n_train_problems": 2, "n_traces": 2, "steps": 1, "batch_size": 2,
                                     "horizon": 300})
    out = train_testbed("planted", tmp_path / "h300", config)
    positions = read_json(out / "config.json")["max_position_embeddings"]
    assert positions >= 2 * (2 * 300 + 1)  # twice a 300-step trace (a token and a separator per step, EOS)
    assert read_json(out / TESTBED_FILE)["task_options"] == {"horizon": 300}
