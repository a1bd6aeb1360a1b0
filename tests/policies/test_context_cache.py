from __future__ import annotations

import torch
from transformers import DynamicCache, MistralConfig, MistralForCausalLM

from pavlab.policies.base import SamplingParams
from pavlab.policies.context_cache import ContextKVCache, supported
from pavlab.policies.hf import HFPolicy
from pavlab.policies.tokenization import encode_prompt

PROMPTS = ["12+3=?", "7*8-1=?", "a"]
PREFIXES = ["15\n", "", "bb cc dd\nee\n"]
STEP = SamplingParams(max_new_tokens=12, stop="step", seed=0)


def step_biased(model, tokenizer) -> None:
    """Make the random model end a step every few tokens, so most rows stop at a step."""
    bias = torch.zeros(len(tokenizer))
    bias[tokenizer.convert_tokens_to_ids("\n")] = 3.0
    model.get_output_embeddings().register_forward_hook(lambda _m, _i, out: out + bias)


def next_contexts(policy: HFPolicy) -> tuple[list[tuple[int, ...]], list[int], list[tuple[str, str]]]:
    """Sample one step of every (prompt, prefix) within the reuse block; the contexts that extend them by a step
    (those the next call can resume), their prompt lengths and their (prompt, prefix) texts."""
    groups = policy.sample(PROMPTS, PREFIXES, 4, STEP)
    contexts, prompt_lengths, texts = [], [], []
    for prompt, prefix, group in zip(PROMPTS, PREFIXES, groups, strict=True):
        for completion in group:
            context = tuple(policy.context_ids(prompt, prefix + completion.text))
            if completion.finish_reason == "step" and context not in contexts:
                contexts.append(context)
                prompt_lengths.append(len(encode_prompt(policy.tokenizer, prompt)))
                texts.append((prompt, prefix + completion.text))
    return contexts, prompt_lengths, texts


def first_two_logits(policy: HFPolicy, start, contexts, prompt_lengths) -> tuple[torch.Tensor, torch.Tensor]:
    """Last-position logits of every context, then of one more token (the same for both ways) read on the cache."""
    with torch.inference_mode():
        logits, mask, position, cache = start(contexts, prompt_lengths)
        token = torch.arange(len(contexts))[:, None] % 5 + 4
        mask = torch.cat([mask, mask.new_ones((len(contexts), 1))], dim=1)
        return logits, policy._forward(token, mask, position[:, None], cache)


def test_resumed_logits_equal_a_full_prefill(tiny_llama, tokenizer) -> None:
    step_biased(tiny_llama, tokenizer)
    policy = HFPolicy(tiny_llama, tokenizer)
    with policy.reusing_prefixes():
        contexts, prompt_lengths, _ = next_contexts(policy)
        assert len(contexts) >= 6 and all(policy._contexts.get(context) for context in contexts)
        full = first_two_logits(policy, policy._prefill, contexts, prompt_lengths)
        before = policy.meter.snapshot()
        resumed = first_two_logits(policy, policy._start, contexts, prompt_lengths)
        assert policy.meter.since(before)["prompt_tokens"] == len(contexts)  # one token per context read
        assert policy.meter.since(before)["forward_passes"] == 2
        for ours, theirs in zip(resumed, full, strict=True):
            torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)
        # some contexts missing from the cache: those are prefilled and both batches stacked in order
        for context in contexts[::3]:
            del policy._contexts.entries[context]
        mixed = first_two_logits(policy, policy._start, contexts, prompt_lengths)
        for ours, theirs in zip(mixed, full, strict=True):
            torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_seeded_samples_are_the_same_with_and_without_reuse(tiny_llama, tokenizer) -> None:
    step_biased(tiny_llama, tokenizer)
    runs = []
    for nbytes in (2**31, 0):
        policy = HFPolicy(tiny_llama, tokenizer, context_cache_bytes=nbytes)
        with policy.reusing_prefixes():
            first = policy.sample(PROMPTS, PREFIXES, 3, STEP)
            prefixes = [prefix + group[0].text for prefix, group in zip(PREFIXES, first, strict=True)]
            second = policy.sample(PROMPTS, prefixes, 3, SamplingParams(max_new_tokens=12, stop="step", seed=1))
        runs.append(([[c.token_ids for c in group] for group in first + second], policy.meter.snapshot()))
    (samples, reused), (same, plain) = runs
    assert samples == same
    assert reused["generated_tokens"] == plain["generated_tokens"]
    assert reused["prompt_tokens"] < plain["prompt_tokens"]


def test_cache_keeps_the_last_call_and_frees_pruned_beams(tiny_llama, tokenizer) -> None:
    step_biased(tiny_llama, tokenizer)
    policy = HFPolicy(tiny_llama, tokenizer)
    with policy.reusing_prefixes():
        contexts, _, texts = next_contexts(policy)
        cache = policy._contexts
        assert set(cache.entries) == set(contexts) and not cache.fresh
        policy.retain_prefixes([texts[0][0]], [texts[0][1]])
        assert list(cache.entries) == [contexts[0]]
        block, row = cache.entries[contexts[0]]
        assert block.lengths == [len(contexts[0]) - 1]  # every token but the last; the pruned rows are cut out
        assert cache.nbytes == block.nbytes == sum(k.nbytes + v.nbytes for k, v in block.layers)
        policy.sample(PROMPTS[1:], PREFIXES[1:], 2, STEP)  # a call that extends none of them
        assert contexts[0] not in cache.entries
    assert policy._contexts is None  # freed with the block
    policy.sample(PROMPTS, PREFIXES, 2, STEP)  # outside the block nothing is kept


def test_byte_bound_and_unsupported_caches(tokenizer) -> None:
    config = MistralConfig(num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, hidden_size=16,
                           sliding_window=None)
    assert supported(config)
    sliding = MistralConfig(vocab_size=len(tokenizer), num_hidden_layers=2, num_attention_heads=2,
                            num_key_value_heads=1, hidden_size=16, intermediate_size=32, sliding_window=8)
    assert not supported(sliding)  # sliding-window layers keep what a row slice misses: reuse stays off
    policy = HFPolicy(MistralForCausalLM(sliding), tokenizer)
    with policy.reusing_prefixes():
        assert policy._contexts is None
        policy.sample(PROMPTS, PREFIXES, 2, STEP)
    past = DynamicCache(ddp_cache_data=[(torch.randn(2, 1, 5, 8), torch.randn(2, 1, 5, 8))] * 2)
    mask = torch.tensor([[0, 1, 1, 1, 1], [1, 0, 1, 1, 1]])  # left padding, a masked gap
    per_row = 4 * 2 * 2 * 8 * 4  # tokens x (keys, values) x layers x head_dim x float32
    cache = ContextKVCache(max_bytes=2 * per_row)
    cache.keep([(1, 2, 3, 4, 5), (6, 7, 8, 9, 10)], past, mask, [0, 1])
    cache.keep([(1, 2, 3)], past, mask, [1])  # over the bound: not kept
    cache.end_call()
    assert list(cache.entries) == [(1, 2, 3, 4, 5), (6, 7, 8, 9, 10)] and cache.nbytes == 2 * per_row
    stacked, stacked_mask = ContextKVCache.past([cache.get((6, 7, 8, 9, 10)), cache.get((1, 2, 3, 4, 5))], config)
    assert stacked_mask.tolist() == [[1, 1, 1, 1]] * 2
    torch.testing.assert_close(stacked.layers[1].keys[0], past.layers[1].keys[1][:, [0, 2, 3, 4]])  # gap dropped
    torch.testing.assert_close(stacked.layers[1].values[1], past.layers[1].values[0][:, 1:])
    cache.name("p", "a\n", (6, 7, 8, 9, 10))
    cache.retain(["p"], ["a\n"])
    assert list(cache.entries) == [(6, 7, 8, 9, 10)] and cache.nbytes == per_row
    torch.testing.assert_close(ContextKVCache.past([cache.get((6, 7, 8, 9, 10))], config)[0].layers[0].keys,
                               stacked.layers[0].keys[:1])


def test_keep_puts_each_rows_tokens_at_the_right_end_with_or_without_a_gap() -> None:
    """Rows whose tokens already end the row are sliced; a row with a gap (prompt, padding, then tail) is gathered:
    both give each kept row's tokens, in order, at the right end of its block row."""
    torch.manual_seed(0)
    keys, values = torch.randn(4, 2, 7, 3), torch.randn(4, 2, 7, 3)
    cache = DynamicCache(ddp_cache_data=[(keys, values)])
    contiguous = torch.tensor([[0, 0, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 1, 1], [1] * 7, [0, 0, 0, 1, 1, 1, 1]])
    gapped = contiguous.clone()
    gapped[3] = torch.tensor([0, 1, 1, 0, 1, 1, 1])
    for mask in (contiguous, gapped):
        store = ContextKVCache(max_bytes=1 << 20)
        rows = [3, 0, 1]
        store.keep([(row,) for row in rows], cache, mask, rows)
        for row in rows:
            block, position = store.fresh[(row,)]
            length = block.lengths[position]
            assert length == int(mask[row].sum())
            for got, source in ((block.layers[0][0], keys), (block.layers[0][1], values)):
                expected = source[row][:, mask[row].bool()]
                assert torch.equal(got[position, :, got.shape[2] - length:], expected)
