"""Hugging Face transformers backend with its own KV-cached decode loop.

Why not `model.generate`: Monte Carlo labeling asks for n continuations of many shared prefixes,
one step at a time. Here every unique context is prefilled once and its cache copied n times,
rows stop independently (at EOS or at the end of a step) and leave the batch and the cache as
they finish, so compute follows the tokens actually generated, and the meter counts exactly that.
Contexts that share a prompt (the prefixes of one response in labeling, the beams of one problem
in search) prefill that prompt once: a chat model's ~100-token prompt is otherwise re-read for
every prefix.
Within `reusing_prefixes` (beam search) a context that extends a row of the previous call by the
step that row sampled reads only its last token on top of that row's kept activations
(`policies/context_cache.py`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from transformers import DynamicCache, PreTrainedModel

from pavlab.errors import PavlabError
from pavlab.policies.base import Completion, PolicyBackend, SamplingParams
from pavlab.policies.context_cache import ContextKVCache, stack_rows, supported
from pavlab.policies.tokenization import encode_prompt, encode_response, encode_responses

Context = tuple[int, ...]


def token_ids_containing(tokenizer: Any, text: str) -> list[int]:
    """Ids whose decoded text contains `text` (e.g. every token that ends or spans a step separator)."""
    vocab_size = len(tokenizer)
    pieces = tokenizer.batch_decode([[index] for index in range(vocab_size)], skip_special_tokens=False,
                                    clean_up_tokenization_spaces=False)
    return [index for index, piece in enumerate(pieces) if text in piece]


def eos_token_ids(model: PreTrainedModel, tokenizer: Any) -> list[int]:
    """End-of-response ids: the tokenizer's EOS plus any the model's generation config adds (chat models)."""
    ids = {tokenizer.eos_token_id}
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    ids.update(configured if isinstance(configured, list) else [configured])
    ids.discard(None)
    if not ids:
        raise PavlabError("the tokenizer and the model define no end-of-sequence token", field="eos_token_id")
    return sorted(ids)


def pack_jobs(jobs: list[tuple[int, int]], max_rows: int) -> Iterator[list[tuple[int, int]]]:
    """Group (context, copies) jobs, in order, into chunks whose copies sum to at most `max_rows`."""
    chunk: list[tuple[int, int]] = []
    rows = 0
    for context, copies in jobs:
        if chunk and rows + copies > max_rows:
            yield chunk
            chunk, rows = [], 0
        chunk.append((context, copies))
        rows += copies
    if chunk:
        yield chunk


def choose_tokens(logits: torch.Tensor, params: SamplingParams, generator: torch.Generator | None) -> torch.Tensor:
    """Next token per row: greedy at temperature 0, else temperature + nucleus (top-p) sampling."""
    if params.temperature == 0:
        return logits.argmax(dim=-1)
    probs = torch.softmax(logits / params.temperature, dim=-1)
    if params.top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        mass_before = sorted_probs.cumsum(dim=-1) - sorted_probs
        sorted_probs = sorted_probs.masked_fill(mass_before >= params.top_p, 0.0)
        probs = torch.zeros_like(probs).scatter_(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


class HFPolicy(PolicyBackend):
    """A causal LM sampled step by step or response by response, with one prefill per unique context.

    Completions carry the EOS token in `token_ids` / `logprobs` (RL needs its log-probability) but
    not in `text`. Rows in flight never exceed `max_batch_rows`. Within `reusing_prefixes` the
    activations kept between calls never exceed `context_cache_bytes` (0 turns the reuse off).
    """

    def __init__(self, model: PreTrainedModel, tokenizer: Any, step_separator: str = "\n", device: str = "cpu",
                 max_batch_rows: int = 512, context_cache_bytes: int = 2**31) -> None:
        super().__init__(step_separator)
        if max_batch_rows < 1:
            raise PavlabError(f"max_batch_rows must be >= 1, got {max_batch_rows}", field="max_batch_rows")
        if not step_separator:
            raise PavlabError("the step separator must not be empty", field="step_separator")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.max_batch_rows = max_batch_rows
        self.context_cache_bytes = context_cache_bytes
        self._contexts: ContextKVCache | None = None
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        self.eos_ids = torch.tensor(eos_token_ids(model, tokenizer), device=self.device)
        self.separator_ids = torch.tensor(token_ids_containing(tokenizer, step_separator), dtype=torch.long,
                                          device=self.device)
        # A multi-character separator ("\n\n") can also be split over tokens: rows whose new token holds
        # its last character are checked on their decoded text.
        self.separator_tail_ids = torch.tensor(
            token_ids_containing(tokenizer, step_separator[-1]) if len(step_separator) > 1 else [],
            dtype=torch.long, device=self.device)

    def context_ids(self, prompt: str, prefix: str) -> list[int]:
        return encode_prompt(self.tokenizer, prompt) + encode_response(self.tokenizer, prefix)[0]

    @contextmanager
    def reusing_prefixes(self) -> Iterator[None]:
        """Within the block, a context that is a row of the last call plus the step it sampled reads only its
        last token (`policies/context_cache.py`); off for caches other than plain full attention."""
        if self.context_cache_bytes <= 0 or not supported(self.model.config):
            yield
            return
        self._contexts = ContextKVCache(self.context_cache_bytes)
        try:
            yield
        finally:
            self._contexts = None

    def retain_prefixes(self, prompts: Sequence[str], prefixes: Sequence[str]) -> None:
        if self._contexts is not None:
            self._contexts.retain(prompts, prefixes)

    def sample(self, prompts: list[str], prefixes: list[str], n: int,
               params: SamplingParams) -> list[list[Completion]]:
        self.check_request(prompts, prefixes, n, params)
        prompt_ids = {prompt: encode_prompt(self.tokenizer, prompt) for prompt in dict.fromkeys(prompts)}
        contexts = [tuple(prompt_ids[prompt] + ids)
                    for prompt, (ids, _) in zip(prompts, encode_responses(self.tokenizer, prefixes), strict=True)]
        if any(not context for context in contexts):
            raise PavlabError("a prompt encodes to no tokens and the tokenizer has no BOS token", field="prompt")
        shared = {context: len(prompt_ids[prompt]) for context, prompt in zip(contexts, prompts, strict=True)}
        demand: dict[Context, int] = {}
        for context in contexts:
            demand[context] = demand.get(context, 0) + n
        unique = sorted(demand, key=len)  # similar lengths share a chunk: less padding
        jobs = [(index, min(self.max_batch_rows, demand[context] - start))
                for index, context in enumerate(unique)
                for start in range(0, demand[context], self.max_batch_rows)]
        generator = None
        if params.seed is not None:
            generator = torch.Generator(device=self.device).manual_seed(params.seed)
        produced: list[list[Completion]] = [[] for _ in unique]
        with torch.inference_mode():
            for chunk in pack_jobs(jobs, self.max_batch_rows):
                chunk_contexts = [unique[index] for index, _ in chunk]
                groups = self._generate_chunk(chunk_contexts, [shared[context] for context in chunk_contexts],
                                              [copies for _, copies in chunk], params, generator)
                for (index, _), group in zip(chunk, groups, strict=True):
                    produced[index].extend(group)
        handed = {context: 0 for context in unique}
        position = {context: index for index, context in enumerate(unique)}
        result = []
        for context in contexts:
            start = handed[context]
            result.append(produced[position[context]][start:start + n])
            handed[context] = start + n
        if self._contexts is not None:
            self._contexts.end_call()
            for prompt, prefix, context, group in zip(prompts, prefixes, contexts, result, strict=True):
                for completion in group:
                    if completion.finish_reason == "step":
                        self._contexts.name(prompt, prefix + completion.text, context + tuple(completion.token_ids))
        self.meter.samples += n * len(contexts)
        return result

    def _forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor,
                 cache: DynamicCache) -> torch.Tensor:
        """Logits of the last position of every row; one model call on the meter."""
        self.meter.forward_passes += 1
        out = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                         past_key_values=cache, use_cache=True, logits_to_keep=1)
        return out.logits[:, -1].float()

    def _left_padded(self, sequences: list[Context]) -> tuple[torch.Tensor, torch.Tensor]:
        """[rows, longest] ids and mask, each sequence at the right end (an empty one is all padding)."""
        width = max(1, max(len(seq) for seq in sequences))
        input_ids = torch.full((len(sequences), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for row, seq in enumerate(sequences):
            if seq:
                input_ids[row, width - len(seq):] = torch.tensor(seq)
                mask[row, width - len(seq):] = 1
        return input_ids.to(self.device), mask.to(self.device)

    def _prefill(self, contexts: list[Context], prompt_lengths: list[int]
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, DynamicCache]:
        """Last-position logits, attention mask, next position and cache of every context.

        When contexts share a prompt, each distinct prompt is prefilled once and the rest of every
        context is read on top of its prompt's cache (the padding between the two is masked out).
        """
        cache = DynamicCache(config=self.model.config)
        heads = [context[:length] for context, length in zip(contexts, prompt_lengths, strict=True)]
        distinct = list(dict.fromkeys(heads))
        if len(distinct) == len(contexts):  # nothing shared: one pass over whole contexts
            distinct, heads = contexts, contexts
        input_ids, mask = self._left_padded(distinct)
        logits = self._forward(input_ids, mask, (mask.cumsum(dim=-1) - 1).clamp(min=0), cache)
        self.meter.prompt_tokens += sum(len(head) for head in distinct)
        lengths = torch.tensor([len(context) for context in contexts], device=self.device)
        if heads is contexts:
            return logits, mask, lengths, cache
        rows = {head: row for row, head in enumerate(distinct)}
        select = torch.tensor([rows[head] for head in heads], device=self.device)
        cache.batch_select_indices(select)
        tails = [context[len(head):] for context, head in zip(contexts, heads, strict=True)]
        tail_ids, tail_mask = self._left_padded(tails)
        head_lengths = lengths - torch.tensor([len(tail) for tail in tails], device=self.device)
        positions = head_lengths[:, None] + (tail_mask.cumsum(dim=-1) - 1).clamp(min=0)
        mask = torch.cat([mask[select], tail_mask], dim=1)
        tail_logits = self._forward(tail_ids, mask, positions, cache)
        self.meter.prompt_tokens += sum(len(tail) for tail in tails)
        has_tail = torch.tensor([bool(tail) for tail in tails], device=self.device)
        return torch.where(has_tail[:, None], tail_logits, logits[select]), mask, lengths, cache

    def _start(self, contexts: list[Context], prompt_lengths: list[int]
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, DynamicCache]:
        """`_prefill`, except that a context the context cache holds reads only its last token on top of it."""
        entries = [self._contexts.get(context) for context in contexts] if self._contexts is not None else []
        hits = [index for index, entry in enumerate(entries) if entry is not None]
        if not hits:
            return self._prefill(contexts, prompt_lengths)
        cache, mask = ContextKVCache.past([entries[index] for index in hits], self.model.config)
        mask = torch.cat([mask, mask.new_ones((len(hits), 1))], dim=1)
        lengths = torch.tensor([len(contexts[index]) for index in hits], device=self.device)
        last = torch.tensor([[contexts[index][-1]] for index in hits], device=self.device)
        logits = self._forward(last, mask, (lengths - 1)[:, None], cache)
        self.meter.prompt_tokens += len(hits)
        misses = [index for index, entry in enumerate(entries) if entry is None]
        if not misses:
            return logits, mask, lengths, cache
        miss_logits, miss_mask, miss_lengths, miss_cache = self._prefill(
            [contexts[index] for index in misses], [prompt_lengths[index] for index in misses])
        order = torch.argsort(torch.tensor(hits + misses, device=self.device))
        cache, mask = stack_rows([(cache, mask), (miss_cache, miss_mask)], order, self.model.config)
        return torch.cat([logits, miss_logits])[order], mask, torch.cat([lengths, miss_lengths])[order], cache

    def _generate_chunk(self, contexts: list[Context], prompt_lengths: list[int], copies: list[int],
                        params: SamplingParams, generator: torch.Generator | None) -> list[list[Completion]]:
        """Prefill each context once (left-padded), expand the cache to its copies, decode until all rows stop."""
        logits, mask, next_position, cache = self._start(contexts, prompt_lengths)
        expand = torch.repeat_interleave(torch.arange(len(contexts), device=self.device),
                                         torch.tensor(copies, device=self.device))
        owners = expand.tolist()  # the context of every original row
        cache.batch_select_indices(expand)
        logits, mask, next_position = logits[expand], mask[expand], next_position[expand]
        n_rows = len(expand)
        active = torch.arange(n_rows, device=self.device)  # original row of each batch row
        tokens: list[list[int]] = [[] for _ in range(n_rows)]
        logprobs: list[list[float]] = [[] for _ in range(n_rows)]
        reasons: list[str] = ["length"] * n_rows
        for step in range(params.max_new_tokens):
            chosen = choose_tokens(logits, params, generator)
            chosen_logprobs = torch.log_softmax(logits, dim=-1).gather(1, chosen[:, None]).squeeze(1)
            rows = active.tolist()
            for row, token, logprob in zip(rows, chosen.tolist(), chosen_logprobs.tolist(), strict=True):
                tokens[row].append(token)
                logprobs[row].append(logprob)
            self.meter.generated_tokens += len(rows)
            at_eos = torch.isin(chosen, self.eos_ids)
            done = (at_eos | self._ends_step(chosen, rows, tokens)) if params.stop == "step" else at_eos
            stepped = []  # batch rows that ended a step: what the next call may resume
            for index in done.nonzero().flatten().tolist():
                reasons[rows[index]] = "eos" if at_eos[index] else "step"
                if reasons[rows[index]] == "step":
                    stepped.append(index)
            if self._contexts is not None and stepped:
                self._contexts.keep([contexts[owners[rows[index]]] + tuple(tokens[rows[index]]) for index in stepped],
                                    cache, mask, stepped)
            keep = (~done).nonzero().flatten()
            if len(keep) == 0 or step == params.max_new_tokens - 1:
                break
            if len(keep) < len(rows):
                cache.batch_select_indices(keep)
                active, chosen, mask, next_position = active[keep], chosen[keep], mask[keep], next_position[keep]
            mask = torch.cat([mask, mask.new_ones((len(active), 1))], dim=1)
            logits = self._forward(chosen[:, None], mask, next_position[:, None], cache)
            next_position = next_position + 1
        completions = [self._completion(tokens[row], logprobs[row], reasons[row]) for row in range(n_rows)]
        bounds = torch.tensor([0, *copies]).cumsum(0).tolist()
        return [completions[start:end] for start, end in zip(bounds[:-1], bounds[1:], strict=True)]

    def _ends_step(self, chosen: torch.Tensor, rows: list[int], tokens: list[list[int]]) -> torch.Tensor:
        """Rows whose newest token completes the step separator."""
        ends = torch.isin(chosen, self.separator_ids)
        if len(self.separator_tail_ids):
            maybe = torch.isin(chosen, self.separator_tail_ids) & ~ends
            for index in maybe.nonzero().flatten().tolist():
                text = self.tokenizer.decode(tokens[rows[index]], skip_special_tokens=False,
                                             clean_up_tokenization_spaces=False)
                ends[index] = self.step_separator in text
        return ends

    def _completion(self, token_ids: list[int], logprobs: list[float], reason: str) -> Completion:
        text_ids = token_ids[:-1] if reason == "eos" else token_ids
        text = self.tokenizer.decode(text_ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        return Completion(text=text, token_ids=token_ids, logprobs=logprobs, finish_reason=reason)  # type: ignore[arg-type]
