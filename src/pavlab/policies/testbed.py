"""Self-trained testbed policies: tiny Llama-shaped models trained from scratch on noisy solver traces.

Why: the method needs a base policy whose Q-values can be estimated by many rollouts and
checked against an exact oracle; a ~1M-parameter model trained here in minutes on a CPU is
such a policy. The output directory is a plain Hugging Face checkpoint (safetensors model +
tokenizer) plus `testbed.json` naming the task and its options, so any HF code can load it.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import Field, model_validator
from tqdm.auto import tqdm
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerBase

from pavlab.config import Config
from pavlab.errors import PavlabError
from pavlab.io import write_json
from pavlab.policies.base import SamplingParams
from pavlab.policies.start_task import TESTBED_FILE
from pavlab.policies.testbed_tokenizer import build_number_tokenizer
from pavlab.policies.tokenization import (
    encode_prompt,
    encode_response,
    first_content_tokens,
    response_step_ends,
    token_step_indices,
)
from pavlab.policies.traces import countdown_trace, subset_sum_trace
from pavlab.tasks.base import Problem, Task
from pavlab.tasks.countdown import OPERATORS, CountdownTask, apply_op, parse_step
from pavlab.tasks.planted import HORIZON, TARGET_LENGTH
from pavlab.tasks.subset_sum import SubsetSumTask
from pavlab.training import lr_factor

# Testbed policies trained once with `pavlab policy train-testbed` and shipped inside the package
# (their testbed.json records the command's config), so demos and studies need not retrain them.
SHIPPED_TESTBEDS = Path(__file__).resolve().parent.parent / "testbeds"
COUNTDOWN_SYMBOLS = [*OPERATORS, "=", "|", "->"]
SUBSET_SUM_SYMBOLS = ["->", "|"]
MAX_POSITIONS = 512  # RoPE positions the model config declares (more if twice the longest trace needs them)


class TestbedConfig(Config):
    """How a testbed policy is trained: its task and folder, task options, trace noise, model size and
    optimisation."""

    __test__ = False  # not a pytest test class despite its name

    task: str = Field("countdown", description="countdown, subset_sum or planted")
    out: Path | None = Field(None, description="output checkpoint folder (the job needs it)")
    n_numbers: int | None = Field(None, ge=2, le=12, description="numbers per problem (default: countdown 4, "
                                  "subset_sum 8)")
    max_number: int | None = Field(None, ge=2, description="largest input number (default: countdown 10, whose "
                                   "task default of 25 a 1M-parameter policy cannot learn in minutes; subset_sum 20)")
    min_take: int = Field(5, ge=2, description="subset_sum: fewest numbers any solution takes")
    max_take: int = Field(6, ge=2, description="subset_sum: most numbers the planted solution takes")
    max_result: int = Field(100, ge=2, description="largest number in traces; 0..max_result are single tokens")
    annotate_state: bool = Field(True, description="append '| numbers left' (countdown) or '| numbers untaken' "
                                 "(subset_sum) to every trace line")
    good_move_prob: float = Field(0.85, ge=0.0, le=1.0, description="chance the solver plays a move that can still win")
    smallest_first_prob: float = Field(0.0, ge=0.0, le=1.0, description="subset_sum: chance the solver takes "
                                       "the smallest number that fits before choosing (a wrong habit: a start "
                                       "that fails by its choices)")
    coverage_traces: int = Field(0, ge=0, description="subset_sum: extra traces of the plain noisy solver (no habit) "
                                 "whose choice tokens are left out of the loss: the policy practises its lines in "
                                 "the states other choices reach, and learns its choices from the main traces only")
    coverage_good_move_prob: float = Field(0.5, ge=0.0, le=1.0, description="subset_sum: good_move_prob of the "
                                           "coverage traces")
    slip_prob: float = Field(0.03, ge=0.0, le=1.0, description="chance a trace line has a wrong result")
    n_train_problems: int = Field(8000, ge=1, description="training problems traces are drawn from")
    n_traces: int = Field(24000, ge=1, description="traces in the training pool")
    hidden_size: int = Field(128, ge=8)
    intermediate_size: int = Field(384, ge=8)
    num_layers: int = Field(4, ge=1)
    num_heads: int = Field(4, ge=1)
    steps: int = Field(900, ge=1, description="optimiser steps")
    batch_size: int = Field(64, ge=1)
    lr: float = Field(3e-3, gt=0.0)
    warmup_steps: int = Field(40, ge=0)
    weight_decay: float = Field(0.01, ge=0.0)
    horizon: int | None = Field(None, ge=TARGET_LENGTH, description=f"planted: most steps of a response (the task's "
                                f"horizon, also read from --task.horizon; default {HORIZON}); traces, distillation "
                                "targets and testbed.json's task_options follow it")
    planted_sft_gamma: float = Field(5.0, gt=0, description="planted: SFT on samples of mu_gamma")
    planted_distill: bool = Field(False, description="planted: score each sampled step against mu_gamma's exact "
                                  "next-token distribution (same optimum as SFT on samples, far less noise)")
    planted_trace_gamma: float | None = Field(None, gt=0, description="planted, with planted_distill: sample the "
                                              "training states from mu_THIS (default: planted_sft_gamma); a "
                                              "stronger one visits the deep match states more often")
    drill_batch_size: int = Field(256, ge=0, description="countdown: arithmetic-fact lines per step on top of "
                                  "traces (0 = off)")
    seed: int = 0
    threads: int = Field(2, ge=1, le=2, description="torch CPU threads (use 1 when the 2 cores are shared)")
    progress: bool = True

    @model_validator(mode="before")
    @classmethod
    def _task_name(cls, data: Any) -> Any:
        """A recipe's shared `task: {name: ..., ...}` (or `--task planted --task.horizon 30`) gives the name and
        the planted horizon; the testbed's other numbers are its own fields."""
        if not isinstance(data, dict) or not isinstance(data.get("task"), dict):
            return data
        task = data["task"]
        data = {**data, "task": task.get("name", cls.model_fields["task"].default)}
        if task.get("horizon") is not None:
            if data.get("horizon") is not None and data["horizon"] != task["horizon"]:
                raise ValueError(f"task.horizon {task['horizon']!r} and horizon {data['horizon']!r} differ")
            data["horizon"] = task["horizon"]
        return data

    @model_validator(mode="after")
    def _task_options_match(self) -> TestbedConfig:
        if self.horizon is not None and self.task != "planted":
            raise ValueError(f"horizon is a planted-task option; task {self.task!r} does not read it")
        for option in ("smallest_first_prob", "coverage_traces"):
            if getattr(self, option) and self.task != "subset_sum":
                raise ValueError(f"{option} is a subset_sum option; task {self.task!r} does not read it")
        if "coverage_good_move_prob" in self.model_fields_set and not self.coverage_traces:
            raise ValueError("coverage_good_move_prob needs coverage_traces > 0 (no coverage traces are drawn)")
        return self

    def recorded(self) -> dict[str, Any]:
        """What testbed.json records as `config`: how it was trained (the task and folder are recorded apart).
        An unset horizon, an unused habit and no coverage traces are left out, so testbeds recorded before
        those options existed still match."""
        unset = {*(() if self.horizon is not None else ("horizon",)),
                 *(() if self.smallest_first_prob else ("smallest_first_prob",)),
                 *(() if self.coverage_traces else ("coverage_traces", "coverage_good_move_prob"))}
        return self.model_dump(exclude={"task", "out", *unset})


def encode_example(tokenizer: PreTrainedTokenizerBase, prompt: str, response: str) -> tuple[list[int], list[int]]:
    """Ids of prompt + response + EOS, and labels that score the response and EOS only."""
    prompt_ids = encode_prompt(tokenizer, prompt)
    response_ids = encode_response(tokenizer, response)[0] + [tokenizer.eos_token_id]
    return prompt_ids + response_ids, [-100] * len(prompt_ids) + response_ids


def collate(rows: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad encoded examples into one batch; padding is masked and unlabelled."""
    width = max(len(ids) for ids, _ in rows)
    return {
        "input_ids": torch.tensor([ids + [pad_id] * (width - len(ids)) for ids, _ in rows]),
        "attention_mask": torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in rows]),
        "labels": torch.tensor([labels + [-100] * (width - len(labels)) for _, labels in rows]),
    }


def encode_examples(tokenizer: PreTrainedTokenizerBase, prompts: list[str], responses: list[str]
                    ) -> dict[str, torch.Tensor]:
    """One training batch from (prompt, response) text pairs."""
    rows = [encode_example(tokenizer, p, r) for p, r in zip(prompts, responses, strict=True)]
    return collate(rows, tokenizer.pad_token_id)


def response_nll(model: LlamaForCausalLM, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    """Mean negative log-likelihood per response token (the SFT loss)."""
    return model(**batch).loss


def build_model(config: TestbedConfig, tokenizer: PreTrainedTokenizerBase, positions: int = MAX_POSITIONS
                ) -> LlamaForCausalLM:
    """A freshly initialised Llama-shaped model sized by `config`, declaring `positions` RoPE positions."""
    torch.manual_seed(config.seed)
    return LlamaForCausalLM(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=config.hidden_size, intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_layers, num_attention_heads=config.num_heads,
        num_key_value_heads=config.num_heads, max_position_embeddings=positions, tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id))


def countdown_task(config: TestbedConfig) -> CountdownTask:
    """The countdown task a testbed config trains on (4 numbers from 1..10 unless set)."""
    return CountdownTask(config.n_numbers or 4, config.max_number or 10)


def subset_sum_task(config: TestbedConfig) -> SubsetSumTask:
    """The subset-sum task a testbed config trains on (8 numbers from 1..20 unless set)."""
    return SubsetSumTask(config.n_numbers or 8, config.max_number or 20, config.min_take, config.max_take)


def countdown_traces(config: TestbedConfig, split: str, n: int, seed: int) -> tuple[list[Problem], list[str]]:
    """`n` noisy-solver traces, cycling over the first `n_train_problems` problems of `split`."""
    problems = countdown_task(config).problems(split, min(n, config.n_train_problems), seed=seed)
    rng = random.Random(seed)
    chosen = [problems[i % len(problems)] for i in range(n)]
    traces = [countdown_trace(p, rng, config.good_move_prob, config.slip_prob, config.max_result,
                              config.annotate_state) for p in chosen]
    return chosen, traces


def subset_sum_traces(config: TestbedConfig, split: str, n: int, seed: int, coverage: bool = False
                      ) -> tuple[list[Problem], list[str]]:
    """`n` noisy-solver traces, cycling over the first `n_train_problems` problems of `split`; with `coverage`,
    the coverage traces' solver (`coverage_good_move_prob`, no habit)."""
    problems = subset_sum_task(config).problems(split, min(n, config.n_train_problems), seed=seed)
    rng = random.Random(seed)
    chosen = [problems[i % len(problems)] for i in range(n)]
    good, habit = ((config.coverage_good_move_prob, 0.0) if coverage
                   else (config.good_move_prob, config.smallest_first_prob))
    return chosen, [subset_sum_trace(p, rng, good, config.annotate_state, habit) for p in chosen]


def encode_execution_example(tokenizer: PreTrainedTokenizerBase, prompt: str, response: str, separator: str = "\n"
                             ) -> tuple[list[int], list[int]]:
    """`encode_example` with each step's choice (its first content token) unlabelled: the example teaches how a
    line is written after whatever was chosen, not what to choose."""
    prompt_ids = encode_prompt(tokenizer, prompt)
    response_ids, offsets = encode_response(tokenizer, response)
    steps = token_step_indices(offsets, response_step_ends(response, separator))
    choices = first_content_tokens(response, offsets, steps)
    labels = [-100 if chosen else token for chosen, token in zip(choices, response_ids, strict=True)]
    eos = tokenizer.eos_token_id  # scored: EOS chooses nothing
    return prompt_ids + response_ids + [eos], [-100] * len(prompt_ids) + labels + [eos]


def arithmetic_drill(tokenizer: PreTrainedTokenizerBase, traces: list[str]) -> list[tuple[list[int], list[int]]]:
    """Every correct `a op b = c` line of the traces as a short stand-alone example.

    Why: a tiny model's errors are mostly arithmetic slips, and a fact costs ~6 tokens as a drill
    line against ~33 inside a trace, so drilling the facts the traces use teaches them ~5x cheaper.
    """
    facts = []
    for trace in traces:
        for line in trace.splitlines():
            parsed = parse_step(line)
            if parsed is not None and apply_op(parsed[0].a, parsed[0].op, parsed[0].b) == parsed[0].result:
                facts.append(encode_example(tokenizer, "", parsed[0].text()))
    return facts


# A step scored against a known distribution instead of its sampled token: (row in the batch, index of
# the token in the row's ids, index into `SoftTargets.token_ids` of the favoured token, -1 = uniform).
SoftStep = tuple[int, int, int]


@dataclass
class SoftTargets:
    """The exact next-step distribution of a procedural teacher: weight `boost` on one favoured token
    (or none) and 1 on each other token of `token_ids`; `steps[r]` lists the soft steps of row r."""

    token_ids: list[int]
    boost: float
    steps: list[list[tuple[int, int]]]  # per row: (token index in ids, favoured index or -1)


@dataclass
class SFTData:
    """What the SFT loop needs from a task: its tokenizer, encoded traces, optional drill, and a record."""

    tokenizer: PreTrainedTokenizerBase
    rows: list[tuple[list[int], list[int]]]
    drill: list[tuple[list[int], list[int]]]
    record: dict[str, Any]
    soft: SoftTargets | None = None


def distillation_nll(model: LlamaForCausalLM, batch: dict[str, torch.Tensor], soft: SoftTargets,
                     soft_steps: list[SoftStep]) -> torch.Tensor:
    """Mean NLL per response token, with the soft steps scored by cross-entropy to the teacher's distribution.

    Why: a sampled step of mu_5 is the favoured token only 28% of the time, so SFT on samples
    teaches the rare deep match states (2-4) through a faint, noisy signal; the exact distribution
    has the same optimum and gives every visited state its full signal.
    """
    logp = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits[:, :-1]
    logp = logp.float().log_softmax(-1)
    labels = batch["labels"][:, 1:]
    nll = -logp.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    if soft_steps:
        rows, cols, favoured = torch.tensor(soft_steps).T
        weights = torch.ones(len(soft_steps), len(soft.token_ids))
        boosted = favoured >= 0
        weights[boosted.nonzero().squeeze(-1), favoured[boosted]] = soft.boost
        target = weights / weights.sum(-1, keepdim=True)
        scored = logp[rows, cols - 1][:, torch.tensor(soft.token_ids)]
        nll = nll.index_put((rows, cols - 1), -(target * scored).sum(-1))
    return nll[labels != -100].mean()


def success_rate(task: Task, problems: list[Problem], traces: list[str]) -> float:
    """Share of `traces` that solve their problem (what testbed.json records of a trace pool)."""
    return sum(task.is_correct(t, p) for p, t in zip(problems, traces, strict=True)) / len(traces)


def countdown_sft_data(config: TestbedConfig) -> SFTData:
    task = countdown_task(config)
    tokenizer = build_number_tokenizer(max(config.max_result, task.max_target), COUNTDOWN_SYMBOLS)
    problems, traces = countdown_traces(config, "train", config.n_traces, config.seed)
    rows = [encode_example(tokenizer, task.prompt(p), t) for p, t in zip(problems, traces, strict=True)]
    drill = arithmetic_drill(tokenizer, traces) if config.drill_batch_size else []
    return SFTData(tokenizer, rows, drill, {"task_options": task.options(),
                                            "trace_success_rate": success_rate(task, problems, traces)})


def subset_sum_sft_data(config: TestbedConfig) -> SFTData:
    """Noisy-solver traces; numbers up to the largest target are single tokens, so no arithmetic drill."""
    task = subset_sum_task(config)
    tokenizer = build_number_tokenizer(task.max_target, SUBSET_SUM_SYMBOLS)
    problems, traces = subset_sum_traces(config, "train", config.n_traces, config.seed)
    rows = [encode_example(tokenizer, task.prompt(p), t) for p, t in zip(problems, traces, strict=True)]
    record = {"task_options": task.options(), "trace_success_rate": success_rate(task, problems, traces)}
    if config.coverage_traces:
        # a different seed: the coverage solver must not replay the main traces' random draws
        problems, traces = subset_sum_traces(config, "train", config.coverage_traces, config.seed + 1, coverage=True)
        rows += [encode_execution_example(tokenizer, task.prompt(p), t, task.step_separator)
                 for p, t in zip(problems, traces, strict=True)]
        record["coverage_trace_success_rate"] = success_rate(task, problems, traces)
    return SFTData(tokenizer, rows, [], record)


def planted_sft_data(config: TestbedConfig) -> SFTData:
    """Samples of the procedural prover mu_`planted_sft_gamma` (the paper: SFT on samples from mu_5), each
    `horizon` steps long (the task's default unless set)."""
    from pavlab.policies.procedural import ProceduralProverPolicy
    from pavlab.tasks.planted import TOKENS, VOCAB_SIZE, PlantedTask

    task = PlantedTask(config.horizon or HORIZON)
    tokenizer = build_number_tokenizer(VOCAB_SIZE, [])
    problems = task.problems("train", config.n_train_problems, seed=config.seed)
    prompts = [task.prompt(p) for p in problems]
    per_problem = max(1, config.n_traces // len(problems))
    trace_gamma = config.planted_trace_gamma or config.planted_sft_gamma
    if trace_gamma != config.planted_sft_gamma and not config.planted_distill:
        raise PavlabError("planted_trace_gamma differs from planted_sft_gamma: only meaningful with planted_distill "
                          "(SFT on samples would learn the trace prover instead)", field="planted_trace_gamma")
    groups = ProceduralProverPolicy(task, trace_gamma).sample(
        prompts, [""] * len(prompts), per_problem, SamplingParams(max_new_tokens=task.horizon, seed=config.seed))
    pairs = [(problem, prompt, c.text) for problem, prompt, group in zip(problems, prompts, groups, strict=True)
             for c in group]
    rows = [encode_example(tokenizer, prompt, text) for _, prompt, text in pairs]
    success = sum(task.is_correct(text, problem) for problem, _, text in pairs) / len(pairs)
    soft = None
    if config.planted_distill:
        token_ids = [tokenizer.convert_tokens_to_ids(str(token)) for token in TOKENS]
        soft = SoftTargets(token_ids, config.planted_sft_gamma, [
            _planted_soft_steps(problem, ids, labels, token_ids, task.horizon)
            for (problem, _, _), (ids, labels) in zip(pairs, rows, strict=True)])
    return SFTData(tokenizer, rows, [], {"task_options": task.options(), "trace_success_rate": success,
                                         "sft_gamma": config.planted_sft_gamma,
                                         "distilled": config.planted_distill, "trace_gamma": trace_gamma}, soft)


def _planted_soft_steps(problem: Problem, ids: list[int], labels: list[int], token_ids: list[int], horizon: int
                        ) -> list[tuple[int, int]]:
    """(index in `ids`, favoured token index or -1 for uniform) of every counted step (the first `horizon`)
    of a mu_gamma trace.

    Steps are the labelled (response) tokens that are content tokens; prompt tokens carry no label.
    """
    from pavlab.tasks.planted import match_states, target_of

    target = target_of(problem)
    where = {token_id: index for index, token_id in enumerate(token_ids)}
    steps = [(i, where[token]) for i, (token, label) in enumerate(zip(ids, labels, strict=True))
             if label != -100 and token in where][:horizon]
    states = match_states(target, [index + 1 for _, index in steps])[:-1]
    return [(i, target[state] - 1 if state < len(target) else -1) for (i, _), state in zip(steps, states, strict=True)]


SFT_DATA = {"countdown": countdown_sft_data, "subset_sum": subset_sum_sft_data, "planted": planted_sft_data}


def train_testbed(task: str, out_dir: Path, config: TestbedConfig) -> Path:
    """Train a testbed policy for `task` from scratch by SFT and save it under `out_dir`."""
    if task not in SFT_DATA:
        raise PavlabError(f"no testbed policy for task '{task}' (available: {', '.join(SFT_DATA)})", field="task")
    torch.set_num_threads(config.threads)
    started = time.perf_counter()
    data = SFT_DATA[task](config)
    # Room to generate twice the longest trace (a long planted horizon can need more than MAX_POSITIONS)
    model = build_model(config, data.tokenizer, max(MAX_POSITIONS, 2 * max(len(ids) for ids, _ in data.rows)))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay,
                                  betas=(0.9, 0.98))
    # Linear warm-up, then cosine decay to 10% of the peak learning rate.
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: lr_factor(step, config.warmup_steps, config.steps, 0.1))
    rng = random.Random(config.seed)
    pad = data.tokenizer.pad_token_id
    losses: list[float] = []
    model.train()
    bar = tqdm(range(config.steps), desc=f"{task} testbed SFT", disable=not config.progress)
    for _ in bar:
        picked = rng.sample(range(len(data.rows)), min(config.batch_size, len(data.rows)))
        batch = collate([data.rows[i] for i in picked], pad)
        if data.soft is None:
            loss = response_nll(model, batch)
        else:
            steps = [(row, col, fav) for row, i in enumerate(picked) for col, fav in data.soft.steps[i]]
            loss = distillation_nll(model, batch, data.soft, steps)
        if data.drill:
            facts = rng.sample(data.drill, min(config.drill_batch_size, len(data.drill)))
            loss = loss + response_nll(model, collate(facts, pad))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        losses.append(loss.item())
        bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    out_dir = Path(out_dir)
    model.save_pretrained(out_dir)
    data.tokenizer.save_pretrained(out_dir)
    write_json(out_dir / TESTBED_FILE, _describe(task, data.record, config, model, losses,
                                                  time.perf_counter() - started))
    return out_dir


def run_testbed(config: TestbedConfig) -> Path:
    """The `policy train-testbed` job: train a testbed policy for `config.task` into `config.out`."""
    if config.out is None:
        raise PavlabError("required: the folder the policy is saved to", field="out")
    return train_testbed(config.task, config.out, config)


def shipped_testbed(name: str) -> Path:
    """The folder of a shipped testbed policy (read-only: copy it before writing next to it).

    `name` is a task (its default testbed) or a named start of that task, e.g. `subset_sum_habit`, the
    RL start of RESULTS.md 5b ("A habit with practised lines"); each folder's testbed.json names its task.
    """
    return shipped_folder(name, TESTBED_FILE, "testbed policy", field="task")


def shipped_folder(name: str, record: str, what: str, field: str) -> Path:
    """The shipped checkpoint folder `name` whose `record` file says what it is (testbed.json for a policy,
    pav.json for a PAV); an unknown name is a one-line error listing the shipped ones of that kind."""
    folder = SHIPPED_TESTBEDS / name
    if not (folder / record).is_file():
        shipped = sorted(p.name for p in SHIPPED_TESTBEDS.glob("*") if (p / record).is_file())
        raise PavlabError(f"no shipped {what} '{name}' (shipped: {', '.join(shipped) or 'none'})", field=field)
    return folder


def copy_shipped_testbed(name: str, out_dir: Path) -> Path:
    """Copy the shipped checkpoint `name` to `out_dir` (created; existing files are overwritten)."""
    import shutil

    shutil.copytree(shipped_testbed(name), out_dir, dirs_exist_ok=True)
    return Path(out_dir)


class ShippedTestbedConfig(Config):
    """Which shipped testbed policy to copy, and where."""

    task: str = Field("subset_sum", description="shipped testbed: a task (subset_sum, planted) or a named start "
                                                "(subset_sum_habit: the RL start of RESULTS.md 5b)")
    out: Path = Field(..., description="folder to copy the checkpoint to")


def run_shipped_testbed(config: ShippedTestbedConfig) -> Path:
    """The `policy shipped-testbed` job: copy the shipped checkpoint `config.task`; returns its folder
    (`config.out`), which `--policy` reads."""
    return copy_shipped_testbed(config.task, config.out)


def _describe(task: str, record: dict[str, Any], config: TestbedConfig, model: LlamaForCausalLM,
              losses: list[float], seconds: float) -> dict[str, Any]:
    """What `testbed.json` records: enough to rebuild the task, and how training went."""
    window = max(1, len(losses) // 20)
    return {
        "task": task,
        **record,
        "config": config.recorded(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "loss_first": sum(losses[:window]) / window,
        "loss_last": sum(losses[-window:]) / window,
        "train_seconds": round(seconds, 1),
    }
