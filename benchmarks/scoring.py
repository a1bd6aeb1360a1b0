"""One forward pass per response (score_prefixes) vs one pass per prefix (the naive PRM way).

Both score the same H+1 states of N responses with a testbed-shaped random Llama value model
(hidden 128, 4 layers) and a character-level tokenizer; the values must agree, and the ratio
of wall times is the headline. Run: `.venv/bin/python benchmarks/scoring.py [--quick]`.
"""

from __future__ import annotations

import argparse
import random
import time

import numpy as np
import torch
from tokenizers import Tokenizer, models
from transformers import PreTrainedTokenizerFast

from pavlab.policies.tokenization import encode_prompt, encode_response
from pavlab.testing import tiny_llama
from pavlab.verifiers.model import ValueModel
from pavlab.verifiers.scoring import pad_id_of, score_prefixes, score_sequences

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
CHARS = list("0123456789+-*/=() abcdefghijklmnopqrstuvwxyz\n")


def char_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {token: index for index, token in enumerate(SPECIALS + CHARS)}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>")


def testbed_model(tokenizer: PreTrainedTokenizerFast) -> ValueModel:
    backbone = tiny_llama(tokenizer, 0, hidden=128, intermediate=512, layers=4, kv_heads=4, max_positions=512,
                          tie=True)
    return ValueModel.from_backbone(backbone).eval()


def countdown_like(n: int, steps: int, rng: random.Random) -> tuple[list[str], list[list[str]]]:
    """Prompts and step lists shaped like the Countdown testbed's traces."""
    prompts, responses = [], []
    for _ in range(n):
        numbers = [rng.randint(1, 10) for _ in range(4)]
        prompts.append(f"numbers {' '.join(map(str, numbers))} target {rng.randint(10, 100)}")
        responses.append([f"{rng.randint(1, 10)}*{rng.randint(1, 10)}={rng.randint(1, 100)} left "
                          f"{rng.randint(1, 99)} {rng.randint(1, 99)}" for _ in range(steps)])
    return prompts, responses


def per_prefix(model: ValueModel, tokenizer, prompts, responses, batch_size: int) -> list[np.ndarray]:
    """Every prefix as its own sequence, read at its last token."""
    sequences, owners = [], []
    for index, (prompt, steps) in enumerate(zip(prompts, responses, strict=True)):
        prompt_ids = encode_prompt(tokenizer, prompt)
        for h in range(len(steps) + 1):
            sequences.append(prompt_ids + encode_response(tokenizer, "".join(s + "\n" for s in steps[:h]))[0])
            owners.append(index)
    values = score_sequences(model, sequences, [[len(seq) - 1] for seq in sequences], pad_id_of(tokenizer),
                             batch_size=batch_size)
    grouped: list[list[float]] = [[] for _ in prompts]
    for owner, value in zip(owners, values, strict=True):
        grouped[owner].append(float(value[0]))
    return [np.array(group) for group in grouped]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="N=64 instead of 256")
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    n = 64 if args.quick else 256
    tokenizer = char_tokenizer()
    model = testbed_model(tokenizer)
    prompts, responses = countdown_like(n, args.steps, random.Random(0))
    params = sum(p.numel() for p in model.parameters())
    print(f"model: {params / 1e6:.2f}M parameters; N={n} responses x H={args.steps} steps; "
          f"torch threads={torch.get_num_threads()}")
    score_prefixes(model, tokenizer, prompts[:8], responses[:8])  # warm-up

    start = time.perf_counter()
    one_pass = score_prefixes(model, tokenizer, prompts, responses, batch_size=args.batch_size)
    one_pass_s = time.perf_counter() - start
    start = time.perf_counter()
    naive = per_prefix(model, tokenizer, prompts, responses, args.batch_size)
    naive_s = time.perf_counter() - start

    gap = max(float(np.max(np.abs(a - b))) for a, b in zip(one_pass, naive, strict=True))
    states = n * (args.steps + 1)
    print(f"one pass per response:  {one_pass_s:7.3f} s  ({states / one_pass_s:8.0f} states/s)")
    print(f"one pass per prefix:    {naive_s:7.3f} s  ({states / naive_s:8.0f} states/s)")
    print(f"max |value difference| between the two: {gap:.2e}")
    if gap > 1e-4:
        raise SystemExit("the two scoring methods disagree")
    print(f"scoring_speedup_one_pass_vs_per_prefix: {naive_s / one_pass_s:.2f} (target > 1)")


if __name__ == "__main__":
    main()
