"""Tiny in-process tokenizers and causal LMs for the RL tests (no downloads, a few ms per forward)."""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, models
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from pavlab.policies.base import Completion
from pavlab.tasks.base import Problem, Task

SPECIALS = ["<pad>", "<s>", "</s>", "<unk>"]
CHARS = list("abcdefghijklmnopqrstuvwxyz0123456789+-*=. ?\n")


def char_tokenizer(merged: tuple[str, ...] = ()) -> PreTrainedTokenizerFast:
    """Character-level BPE tokenizer; `merged` adds two-character tokens (e.g. ".\\n") with their merges."""
    vocab = {token: index for index, token in enumerate(SPECIALS + CHARS)}
    for token in merged:
        vocab[token] = len(vocab)
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[(t[0], t[1:]) for t in merged], unk_token="<unk>"))
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="</s>",
                                   pad_token="<pad>", unk_token="<unk>")


def tiny_llama(vocab_size: int, seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(
        vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=128, bos_token_id=1, eos_token_id=2, pad_token_id=0,
        tie_word_embeddings=True)).eval()


class SuffixTask(Task):
    """A toy task: a response is correct iff its last step equals the answer."""

    name = "suffix"

    def problems(self, split: str, n: int | None = None, seed: int = 0) -> list[Problem]:
        return [Problem(id=f"{split}-{i}", question=f"q{i}", answer="ok") for i in range(n or 4)]

    def extract_answer(self, response: str) -> str | None:
        steps = self.split_steps(response)
        return steps[-1] if steps else None

    def is_correct(self, response: str, problem: Problem) -> bool:
        return self.extract_answer(response) == problem.answer


def completion(tokenizer: PreTrainedTokenizerFast, text: str, eos: bool = True) -> Completion:
    ids = tokenizer(text, add_special_tokens=False)["input_ids"] + ([tokenizer.eos_token_id] if eos else [])
    return Completion(text=text, token_ids=ids, logprobs=[0.0] * len(ids), finish_reason="eos" if eos else "length")
