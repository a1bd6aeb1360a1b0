from __future__ import annotations

import pytest
import torch
from transformers import LlamaForCausalLM, PreTrainedTokenizerFast

from pavlab.errors import PavlabError
from pavlab.policies.base import SamplingParams
from pavlab.policies.hf import HFPolicy, pack_jobs, token_ids_containing

PROMPTS = ["12+3=?", "7*8-1=?", "a"]
PREFIXES = ["15\n", "", "bb cc dd\nee\n"]


def favour(model: LlamaForCausalLM, tokenizer: PreTrainedTokenizerFast, text: str, bonus: float) -> None:
    """Give the model's output layer a bias towards the tokens of `text`, so rare events happen often."""
    head = torch.nn.Linear(model.lm_head.in_features, model.lm_head.out_features, bias=True)
    with torch.no_grad():
        head.weight.copy_(model.lm_head.weight)
        head.bias.zero_()
        head.bias[tokenizer.convert_tokens_to_ids(list(text))] = bonus
    model.lm_head = head


def record_rows(model: LlamaForCausalLM) -> list[int]:
    """Batch size of every model call, recorded by a forward pre-hook."""
    sizes: list[int] = []
    model.register_forward_pre_hook(lambda _m, _a, kwargs: sizes.append(kwargs["input_ids"].shape[0]),
                                    with_kwargs=True)
    return sizes


def test_step_stop_gives_exactly_one_step(tiny_llama, tokenizer) -> None:
    favour(tiny_llama, tokenizer, "\n", 2.0)
    policy = HFPolicy(tiny_llama, tokenizer)
    params = SamplingParams(temperature=1.0, max_new_tokens=40, stop="step", seed=0)
    groups = policy.sample(PROMPTS, PREFIXES, 6, params)
    assert [len(group) for group in groups] == [6, 6, 6]
    reasons = [c.finish_reason for group in groups for c in group]
    assert "step" in reasons
    for c in (c for group in groups for c in group):
        if c.finish_reason == "step":
            assert c.text.endswith("\n") and "\n" not in c.text[:-1]
        elif c.finish_reason == "eos":
            assert c.token_ids[-1] == tokenizer.eos_token_id and "</s>" not in c.text and "\n" not in c.text
        else:
            assert len(c.token_ids) == 40 and "\n" not in c.text
        assert tokenizer.decode(c.token_ids[: len(c.token_ids) - (c.finish_reason == "eos")]) == c.text


def test_response_stop_runs_past_separators(tiny_llama, tokenizer) -> None:
    favour(tiny_llama, tokenizer, "\n", 2.0)
    policy = HFPolicy(tiny_llama, tokenizer)
    groups = policy.sample(PROMPTS[:1], PREFIXES[:1], 8, SamplingParams(max_new_tokens=30, seed=1))
    assert all(c.finish_reason in ("eos", "length") for c in groups[0])
    assert any("\n" in c.text[:-1] for c in groups[0])


def test_multi_character_separator_split_over_tokens(tiny_llama, tokenizer) -> None:
    favour(tiny_llama, tokenizer, "\n", 3.0)
    policy = HFPolicy(tiny_llama, tokenizer, step_separator="\n\n")
    groups = policy.sample(PROMPTS[:2], ["", ""], 8, SamplingParams(max_new_tokens=40, stop="step", seed=0))
    steps = [c.text for group in groups for c in group if c.finish_reason == "step"]
    assert steps and all(text.endswith("\n\n") and "\n\n" not in text[:-1] for text in steps)
    assert any("\n" in text[:-2] for text in steps)  # a lone newline does not end the step


def test_separator_ids_include_merged_tokens(merged_tokenizer) -> None:
    tokenizer = merged_tokenizer
    ids = token_ids_containing(tokenizer, "\n")
    assert sorted(ids) == sorted(tokenizer.convert_tokens_to_ids(["\n", "a\n"]))


def test_one_prefill_per_unique_context(tiny_llama, tokenizer) -> None:
    sizes = record_rows(tiny_llama)
    policy = HFPolicy(tiny_llama, tokenizer)
    prompts, prefixes = ["ab", "ab", "cd"], ["x\n", "x\n", ""]
    groups = policy.sample(prompts, prefixes, 3, SamplingParams(max_new_tokens=12, seed=0))
    contexts = {tuple(policy.context_ids(p, s)) for p, s in zip(prompts, prefixes, strict=True)}
    completions = [c for group in groups for c in group]
    meter = policy.meter
    assert meter.prompt_tokens == sum(len(context) for context in contexts)
    assert sizes[0] == 2  # one prefill row per unique context, not per sample
    assert meter.forward_passes == max(len(c.token_ids) for c in completions) == len(sizes)
    assert meter.generated_tokens == sum(len(c.token_ids) for c in completions) == sum(sizes[1:]) + 9
    assert meter.samples == 9


def test_rows_in_flight_respect_max_batch_rows(tiny_llama, tokenizer) -> None:
    sizes = record_rows(tiny_llama)
    policy = HFPolicy(tiny_llama, tokenizer, max_batch_rows=4)
    groups = policy.sample(["ab", "cd"], ["", ""], 6, SamplingParams(max_new_tokens=5, seed=0))
    assert [len(group) for group in groups] == [6, 6]
    assert max(sizes) <= 4
    assert policy.meter.prompt_tokens == 2 * len(policy.context_ids("ab", "")) + 2 * len(policy.context_ids("cd", ""))
    assert list(pack_jobs([(0, 4), (0, 2), (1, 1), (1, 4)], 4)) == [[(0, 4)], [(0, 2), (1, 1)], [(1, 4)]]


def test_padding_and_cache_match_unbatched_full_forward(tiny_llama, tokenizer) -> None:
    policy = HFPolicy(tiny_llama, tokenizer)
    greedy = SamplingParams(temperature=0.0, max_new_tokens=10)
    alone = policy.sample([PROMPTS[0]], [PREFIXES[0]], 1, greedy)[0][0]
    mixed = policy.sample(PROMPTS, PREFIXES, 2, greedy)
    for c in mixed[0]:
        assert c.token_ids == alone.token_ids
        assert torch.allclose(torch.tensor(c.logprobs), torch.tensor(alone.logprobs), atol=1e-4)
    context = policy.context_ids(PROMPTS[0], PREFIXES[0])
    with torch.no_grad():
        logits = tiny_llama(torch.tensor([context + alone.token_ids])).logits[0]
    reference = torch.log_softmax(logits[len(context) - 1:-1], dim=-1)
    reference = reference.gather(1, torch.tensor(alone.token_ids)[:, None]).squeeze(1)
    assert torch.allclose(torch.tensor(alone.logprobs), reference, atol=1e-4)


def test_seed_fixes_samples(tiny_llama, tokenizer) -> None:
    policy = HFPolicy(tiny_llama, tokenizer)
    def draw(seed: int) -> list[list[int]]:
        params = SamplingParams(max_new_tokens=8, seed=seed)
        return [c.token_ids for group in policy.sample(PROMPTS, PREFIXES, 4, params) for c in group]
    assert draw(3) == draw(3)
    assert draw(3) != draw(4)


def test_logprobs_shape_and_tiny_top_p_is_greedy(tiny_llama, tokenizer) -> None:
    policy = HFPolicy(tiny_llama, tokenizer)
    nucleus = policy.sample(PROMPTS, PREFIXES, 3, SamplingParams(top_p=1e-6, max_new_tokens=6, seed=0))
    greedy = policy.sample(PROMPTS, PREFIXES, 1, SamplingParams(temperature=0.0, max_new_tokens=6))
    for group, (best,) in zip(nucleus, greedy, strict=True):
        for c in group:
            assert len(c.logprobs) == len(c.token_ids) and all(lp <= 0 for lp in c.logprobs)
            assert c.token_ids == best.token_ids


def test_max_new_tokens_finishes_with_length(tiny_llama, tokenizer) -> None:
    policy = HFPolicy(tiny_llama, tokenizer)
    groups = policy.sample(PROMPTS, PREFIXES, 4, SamplingParams(max_new_tokens=3, seed=0))
    lengths = [c for group in groups for c in group if c.finish_reason == "length"]
    assert lengths and all(len(c.token_ids) == 3 and c.finished for c in lengths)


def test_eos_ends_the_response(tiny_llama, tokenizer) -> None:
    model = tiny_llama
    favour(model, tokenizer, "", 0.0)
    with torch.no_grad():
        model.lm_head.bias[tokenizer.eos_token_id] = 4.0
    groups = HFPolicy(model, tokenizer).sample(["ab"], [""], 8, SamplingParams(max_new_tokens=20, seed=0))
    eos = [c for c in groups[0] if c.finish_reason == "eos"]
    assert eos and all(c.finished and c.token_ids[-1] == tokenizer.eos_token_id for c in eos)


@pytest.mark.parametrize("params", [SamplingParams(temperature=-1.0), SamplingParams(top_p=0.0),
                                    SamplingParams(max_new_tokens=0)])
def test_bad_params_raise(tiny_llama, tokenizer, params: SamplingParams) -> None:
    with pytest.raises(PavlabError):
        HFPolicy(tiny_llama, tokenizer).sample(["ab"], [""], 1, params)


def test_prompts_and_prefixes_must_pair(tiny_llama, tokenizer) -> None:
    with pytest.raises(PavlabError, match="prefixes"):
        HFPolicy(tiny_llama, tokenizer).sample(["ab", "cd"], [""], 1, SamplingParams())


def test_contexts_sharing_a_prompt_prefill_it_once_with_the_same_results(tiny_llama, tokenizer) -> None:
    """Labeling's and beam search's contexts share prompts: the prompt is read once, nothing else changes."""
    from pavlab.policies.tokenization import encode_prompt

    policy = HFPolicy(tiny_llama, tokenizer)
    prompts, prefixes = ["ab", "ab", "ab", "cd"], ["", "x\n", "x\nyy\n", "z\n"]
    contexts = [tuple(policy.context_ids(p, q)) for p, q in zip(prompts, prefixes, strict=True)]
    shared = policy._prefill(contexts, [len(encode_prompt(tokenizer, p)) for p in prompts])
    whole = policy._prefill(contexts, [len(context) for context in contexts])
    assert torch.allclose(shared[0], whole[0], atol=1e-5)
    assert shared[2].tolist() == whole[2].tolist() == [len(context) for context in contexts]
    prompt_reads = len(encode_prompt(tokenizer, "ab")) + len(encode_prompt(tokenizer, "cd"))
    tails = sum(len(context) for context in contexts) - 3 * len(encode_prompt(tokenizer, "ab")) - len(
        encode_prompt(tokenizer, "cd"))
    assert policy.meter.prompt_tokens == prompt_reads + tails + sum(len(context) for context in contexts)

    greedy = SamplingParams(max_new_tokens=10, temperature=0.0)
    together = policy.sample(prompts, prefixes, 1, greedy)
    alone = [policy.sample([p], [q], 1, greedy)[0] for p, q in zip(prompts, prefixes, strict=True)]
    assert [g[0].token_ids for g in together] == [g[0].token_ids for g in alone]
