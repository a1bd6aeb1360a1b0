"""Generated tokens/s of HFPolicy (own KV-cached loop) vs `model.generate`, against this machine's matmul bound.

A testbed-shaped random Llama (hidden 128, 4 layers, 4 heads, intermediate 512, ~100-token vocab,
~1M parameters) with the testbed's number tokenizer, or a checkpoint folder via `--policy`.
EOS is masked out of the output layer so every response runs its full length and both
generators do the same work. Run: `.venv/bin/python benchmarks/generation.py [--quick]`; on a GPU,
`--device cuda --policy PATH?dtype=bfloat16` (the bound is then the device's matmul rate in the model's dtype).
"""

from __future__ import annotations

import argparse
import random
import time
from functools import partial

import torch
from transformers import LlamaForCausalLM, PreTrainedModel

from pavlab.policies.base import SamplingParams
from pavlab.policies.hf import HFPolicy, eos_token_ids
from pavlab.policies.loading import load_model_and_tokenizer
from pavlab.policies.testbed_tokenizer import build_number_tokenizer
from pavlab.policies.tokenization import encode_prompt
from pavlab.testing import tiny_llama

BATCHES = (1, 64, 512)


def testbed_shaped(tokenizer) -> LlamaForCausalLM:
    return tiny_llama(tokenizer, 0, hidden=128, intermediate=512, layers=4, kv_heads=4, max_positions=512)


def mask_eos(model: PreTrainedModel, eos_ids: list[int]) -> None:
    """Replace the output layer by one whose bias forbids every EOS the sampler stops at, so lengths are fixed."""
    old = model.get_output_embeddings()
    head = torch.nn.Linear(old.in_features, old.out_features, bias=True, dtype=old.weight.dtype,
                           device=old.weight.device)
    with torch.no_grad():
        head.weight.copy_(old.weight)
        head.bias.zero_()
        head.bias[eos_ids] = float("-inf")
    model.set_output_embeddings(head)


def synchronize(device: str) -> None:
    """Wait for queued GPU work, so wall-clock timings cover it (a no-op on CPU)."""
    if device.startswith("cuda"):
        torch.cuda.synchronize(device)


def matmul_flops(device: str = "cpu", dtype: torch.dtype = torch.float32, size: int = 2048, repeats: int = 5) -> float:
    """Best FLOP/s of a size x size matmul in the model's dtype: the compute bound generation is measured against."""
    if device.startswith("cuda"):
        size = 8192  # a 2048 product is launch-bound on a GPU
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    a @ b
    synchronize(device)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size**3 / best


def countdown_prompts(n: int, rng: random.Random) -> list[str]:
    return [f"{' '.join(str(rng.randint(1, 10)) for _ in range(4))} -> {rng.randint(10, 100)}" for _ in range(n)]


def time_policy(policy: HFPolicy, prompts: list[str], tokens: int) -> float:
    params = SamplingParams(temperature=1.0, max_new_tokens=tokens, stop="response", seed=0)
    before = policy.meter.snapshot()
    start = time.perf_counter()
    groups = policy.sample(prompts, [""] * len(prompts), 1, params)
    elapsed = time.perf_counter() - start
    generated = policy.meter.since(before)["generated_tokens"]
    assert generated == len(prompts) * tokens == sum(len(g[0].token_ids) for g in groups)
    return generated / elapsed


def time_generate(model: PreTrainedModel, tokenizer, prompts: list[str], tokens: int, device: str = "cpu") -> float:
    contexts = [encode_prompt(tokenizer, prompt) for prompt in prompts]
    width = max(map(len, contexts))
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id  # chat models
    ids = torch.tensor([[pad] * (width - len(c)) + c for c in contexts], device=device)
    mask = torch.tensor([[0] * (width - len(c)) + [1] * len(c) for c in contexts], device=device)
    torch.manual_seed(0)
    start = time.perf_counter()
    with torch.inference_mode():
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=tokens, do_sample=True,
                             temperature=1.0, top_p=1.0, top_k=0, pad_token_id=pad)
    synchronize(device)
    elapsed = time.perf_counter() - start
    assert out.shape == (len(prompts), width + tokens)
    return len(prompts) * tokens / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="best of 2 runs per setting instead of best of 4")
    parser.add_argument("--policy", help="checkpoint folder to time instead of the random testbed-shaped model")
    parser.add_argument("--tokens", type=int, default=64, help="new tokens per response")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (1 is faster on a busy box)")
    parser.add_argument("--device", default="cpu", help="torch device: cpu or cuda")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.policy:
        model, tokenizer = load_model_and_tokenizer(args.policy, args.device)
    else:
        tokenizer = build_number_tokenizer(40, ["+", "-", "*", "/", "=", "->"])
        model = testbed_shaped(tokenizer)
    mask_eos(model, eos_token_ids(model, tokenizer))
    params = sum(p.numel() for p in model.parameters())
    policy = HFPolicy(model, tokenizer, max_batch_rows=max(BATCHES), device=args.device)  # moves the model
    bound = matmul_flops(args.device, model.dtype)
    # Rounds alternate which generator goes first, so each gets a run after the other has paid the first use
    # of every shape (on a GPU that first use costs more than the run: measured 2026-12-04 on an H200).
    repeats = 2 if args.quick else 4
    rng = random.Random(0)
    time_policy(policy, countdown_prompts(8, rng), 4)  # warm-up
    where = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else \
        f"{torch.get_num_threads()} threads"
    print(f"model: {params / 1e6:.2f}M params ({model.dtype}), vocab {len(tokenizer)}, {where}; "
          f"matmul bound {bound / 1e9:.1f} GFLOP/s; {args.tokens} new tokens per response")
    print(f"{'batch':>6} {'HFPolicy tok/s':>15} {'generate tok/s':>15} {'speedup':>8} {'HFPolicy FLOP/s / bound':>24}")
    headline = 0.0
    for batch in BATCHES:
        prompts = countdown_prompts(batch, rng)
        timers = [partial(time_policy, policy, prompts, args.tokens),
                  partial(time_generate, model, tokenizer, prompts, args.tokens, args.device)]
        best = [0.0, 0.0]
        for round_ in range(repeats):
            for which in ((0, 1) if round_ % 2 == 0 else (1, 0)):
                best[which] = max(best[which], timers[which]())
        ours, theirs = best
        ratio = 2 * params * ours / bound
        print(f"{batch:>6} {ours:>15,.0f} {theirs:>15,.0f} {ours / theirs:>7.2f}x {ratio:>23.1%}")
        headline = ours
    print(f"generation_tokens_per_s_batch{BATCHES[-1]}: {headline:.0f} (target >= 10000 on 2 cores per FIELD.md)")


if __name__ == "__main__":
    main()
