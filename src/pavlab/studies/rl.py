"""The didactic RL study: outcome-only RL vs PAV-RL with procedural provers mu_gamma on the planted task.

Why a study module: the paper's claim (PAPER.md, "The didactic task") is a comparison of learning
curves (held-out accuracy vs samples seen) across reward arms and prover strengths, and it only
means something with several seeds, identical settings per arm except the reward, and the
sample-efficiency ratio computed the same way every time. This module owns that protocol.

Start policy: a tiny Llama SFT'd on mu_5 samples over many training problems (so it generalises
to held-out problems), as in the paper.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch

from pavlab.policies.base import SamplingParams
from pavlab.policies.procedural import ProceduralProverPolicy
from pavlab.policies.testbed import TestbedConfig, build_model, encode_examples, response_nll
from pavlab.policies.testbed_tokenizer import build_number_tokenizer
from pavlab.tasks.planted import VOCAB_SIZE, PlantedTask


def train_planted_start(out_dir: Path, *, sft_gamma: float = 5.0, problems: int = 2000, samples: int = 4,
                        model: TestbedConfig | None = None) -> Path:
    """SFT a fresh testbed model on `samples` mu_`sft_gamma` traces of each of `problems` training problems.

    Saved as a plain HF checkpoint, so `RLConfig(policy=str(out_dir))` loads it.
    """
    config = model or TestbedConfig(hidden_size=64, intermediate_size=192, num_layers=2, num_heads=4,
                                    steps=400, batch_size=64, lr=3e-3, progress=False)
    torch.set_num_threads(config.threads)
    task = PlantedTask()
    tokenizer = build_number_tokenizer(VOCAB_SIZE, [])
    prompts = [task.prompt(p) for p in task.problems("train", problems, seed=config.seed)]
    traces = ProceduralProverPolicy(task, sft_gamma).sample(prompts, [""] * len(prompts), samples,
                                                            SamplingParams(seed=config.seed))
    pairs = [(prompt, c.text) for prompt, group in zip(prompts, traces, strict=True) for c in group]
    net = build_model(config, tokenizer)
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    rng = random.Random(config.seed)
    net.train()
    for _ in range(config.steps):
        batch = rng.sample(pairs, min(config.batch_size, len(pairs)))
        loss = response_nll(net, encode_examples(tokenizer, [p for p, _ in batch], [r for _, r in batch]))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        optimizer.step()
    net.eval()
    net.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return Path(out_dir)
