"""A CPU stand-in for the slice of vLLM's offline API that `VLLMPolicy` uses, generating for real with HF.

Why: vllm needs a GPU, so `VLLMPolicy` would otherwise only meet hand-built output objects. This
engine loads the checkpoint with transformers and samples token by token, and it follows vLLM's
rules for what comes back (confirmed against vLLM's source; see the comment block in
test_backend_contract.py): the stop checks and their order, text cut after a stop string while
`token_ids` keep the token that completed it, EOS kept in `token_ids` and `logprobs`, `stop_reason`
None for EOS / the string for a stop string / the id for a stop token, logprobs from the raw
distribution with the sampled token always present, and `n > 1` fanned out into children seeded
`seed + j`. The test fixture installs it as `sys.modules["vllm"]`, so `VLLMPolicy` runs unchanged.

Only what pavlab asks for is here; an unknown keyword is a TypeError, as it is for vLLM's classes.
"""

from __future__ import annotations

import itertools
import types
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypedDict

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, DynamicCache, GenerationConfig

SAMPLING_EPS = 1e-5  # vLLM: below this temperature sampling is greedy
MIN_TEMPERATURE = 0.01  # vLLM raises smaller positive temperatures to this
DTYPES = {"auto": None, "half": torch.float16, "float16": torch.float16, "bfloat16": torch.bfloat16,
          "float": torch.float32, "float32": torch.float32}


class TokensPrompt(TypedDict):
    """vllm.inputs.TokensPrompt: a prompt given as token ids."""

    prompt_token_ids: list[int]


inputs = types.ModuleType("vllm.inputs")
inputs.TokensPrompt = TokensPrompt  # type: ignore[attr-defined]


class Platform:
    """vllm.platforms.current_platform: the stand-in is a CPU engine (it samples with a CPU model)."""

    def is_cpu(self) -> bool:
        return True


platforms = types.ModuleType("vllm.platforms")
platforms.current_platform = Platform()  # type: ignore[attr-defined]
CPU_MAX_NUM_BATCHED_TOKENS = 4096  # vLLM's CPU defaults for the offline LLM class (engine/arg_utils.py)
CPU_MAX_NUM_SEQS = 256


class EngineDeadError(RuntimeError):
    """vllm.v1.engine.exceptions.EngineDeadError"""


@dataclass
class SchedulerConfig:
    enable_chunked_prefill: bool
    max_num_batched_tokens: int
    max_num_seqs: int


@dataclass(kw_only=True)
class SamplingParams:
    """vllm.SamplingParams (the fields pavlab sets, plus stop_token_ids / ignore_eos), checked as vLLM checks them."""

    n: int = 1
    temperature: float = 1.0
    top_p: float = 1.0
    max_tokens: int | None = 16
    stop: str | list[str] | None = None
    stop_token_ids: list[int] | None = None
    ignore_eos: bool = False
    include_stop_str_in_output: bool = False
    logprobs: int | None = None
    seed: int | None = None
    skip_special_tokens: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"n must be at least 1, got {self.n}.")
        if self.temperature < 0:
            raise ValueError(f"temperature must be non-negative, got {self.temperature}.")
        if 0 < self.temperature < MIN_TEMPERATURE:
            self.temperature = MIN_TEMPERATURE
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}.")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.max_tokens}.")
        if self.logprobs is not None and self.logprobs < -1:
            raise ValueError(f"logprobs must be non-negative or -1, got {self.logprobs}.")
        if self.stop is None:
            self.stop = []
        elif isinstance(self.stop, str):
            self.stop = [self.stop]
        if any(not stop for stop in self.stop):
            raise ValueError("stop cannot contain an empty string.")
        self.stop_token_ids = list(self.stop_token_ids or [])


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None
    logprobs: list[dict[int, Logprob]] | None
    finish_reason: str | None = None
    stop_reason: int | str | None = None

    def finished(self) -> bool:
        return self.finish_reason is not None


@dataclass
class RequestOutput:
    request_id: str
    prompt: str | None
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput]
    finished: bool = True


def check_stop_strings(text: str, new_chars: int, stops: list[str], include: bool) -> tuple[str, int] | None:
    """vLLM's check: a stop string anywhere in the newly decoded tail (or straddling it) ends the request;
    returns (stop string, length to cut the text to)."""
    if not new_chars:
        return None
    for stop in stops:
        index = text.find(stop, max(0, len(text) + 1 - new_chars - len(stop)))
        if index != -1:
            return stop, index + len(stop) if include else index
    return None


@dataclass
class Child:
    """One sample of a request (vLLM runs each of the n as its own child request)."""

    index: int
    token_ids: list[int] = field(default_factory=list)
    logprobs: list[dict[int, Logprob]] = field(default_factory=list)
    text: str = ""
    finish_reason: str | None = None
    stop_reason: int | str | None = None


class LLM:
    """vllm.LLM: `generate` samples with the HF model; engine arguments, requests and results are recorded.

    `length_checked_first` replays the older V1 scheduler, which checked max_tokens before EOS and so
    reported "length" for an EOS sampled as the last allowed token (vllm-project/vllm#27390)."""

    length_checked_first: ClassVar[bool] = False
    instances: ClassVar[list[LLM]] = []

    def __init__(self, model: str, tokenizer: str | None = None, *, dtype: str = "auto",
                 gpu_memory_utilization: float = 0.9, tensor_parallel_size: int = 1,
                 max_model_len: int | None = None, enable_prefix_caching: bool | None = None,
                 seed: int | None = 0, enforce_eager: bool = False, enable_chunked_prefill: bool | None = None,
                 max_num_batched_tokens: int | None = None, max_num_seqs: int | None = None,
                 kv_cache_memory_bytes: int | None = None) -> None:
        if not 0.0 < gpu_memory_utilization <= 1.0:
            raise ValueError(f"gpu_memory_utilization must be in (0, 1], got {gpu_memory_utilization}.")
        if tensor_parallel_size < 1:
            raise ValueError(f"tensor_parallel_size must be at least 1, got {tensor_parallel_size}.")
        if dtype not in DTYPES:
            raise ValueError(f"Unknown dtype: {dtype!r}")
        self.engine_args = {"model": model, "tokenizer": tokenizer, "dtype": dtype,
                            "gpu_memory_utilization": gpu_memory_utilization,
                            "tensor_parallel_size": tensor_parallel_size, "max_model_len": max_model_len,
                            "enable_prefix_caching": enable_prefix_caching, "seed": seed,
                            "enforce_eager": enforce_eager, "enable_chunked_prefill": enable_chunked_prefill,
                            "max_num_batched_tokens": max_num_batched_tokens, "max_num_seqs": max_num_seqs,
                            "kv_cache_memory_bytes": kv_cache_memory_bytes}
        self.model = AutoModelForCausalLM.from_pretrained(model, local_files_only=True).eval()
        if DTYPES[dtype] is not None:
            self.model = self.model.to(DTYPES[dtype])
        self.tokenizer = AutoTokenizer.from_pretrained(tokenizer or model, local_files_only=True)
        limit = self.model.config.max_position_embeddings
        if max_model_len is not None and max_model_len > limit:
            raise ValueError(f"max_model_len {max_model_len} exceeds the model's {limit}.")
        self.max_model_len = max_model_len or limit
        # vLLM's scheduler defaults on CPU (chunked prefill on; off raises the token budget to the context length)
        chunked = True if enable_chunked_prefill is None else enable_chunked_prefill
        seqs = max_num_seqs or CPU_MAX_NUM_SEQS
        budget = max_num_batched_tokens
        if budget is None:
            budget = CPU_MAX_NUM_BATCHED_TOKENS if chunked else max(self.max_model_len, CPU_MAX_NUM_BATCHED_TOKENS)
            budget = min(seqs * self.max_model_len, budget)
        elif not chunked and budget < self.max_model_len:
            raise ValueError(f"max_num_batched_tokens ({budget}) is smaller than max_model_len "
                             f"({self.max_model_len}).")
        scheduler = SchedulerConfig(enable_chunked_prefill=chunked, max_num_batched_tokens=budget, max_num_seqs=seqs)
        self.llm_engine = types.SimpleNamespace(vllm_config=types.SimpleNamespace(scheduler_config=scheduler))
        self.dead = False
        # vLLM stops on the tokenizer's EOS (stop_reason None) and adds the generation config's other EOS
        # ids as stop tokens (stop_reason = the id).
        self.eos_token_id = self.tokenizer.eos_token_id
        try:
            generation = GenerationConfig.from_pretrained(model, local_files_only=True)
        except OSError:
            generation = GenerationConfig.from_model_config(self.model.config)
        extra = generation.eos_token_id
        self.extra_stop_ids = {*(extra if isinstance(extra, list) else [extra])} - {None, self.eos_token_id}
        self.generator = torch.Generator().manual_seed(seed or 0)
        self.request_ids = itertools.count()
        self.generate_calls: list[tuple[list[Any], list[SamplingParams]]] = []
        self.generate_results: list[list[RequestOutput]] = []
        LLM.instances.append(self)

    def generate(self, prompts: Any, sampling_params: SamplingParams | list[SamplingParams] | None = None, *,
                 use_tqdm: bool = True) -> list[RequestOutput]:
        prompts = prompts if isinstance(prompts, list) else [prompts]
        if sampling_params is None:
            sampling_params = SamplingParams()
        if isinstance(sampling_params, list):
            if len(sampling_params) != len(prompts):
                raise ValueError("The lengths of prompts and sampling_params must be the same.")
            params_list = sampling_params
        else:
            params_list = [sampling_params] * len(prompts)
        self.generate_calls.append((prompts, params_list))
        self._schedule(prompts, params_list)
        results = [self._request(prompt, params) for prompt, params in zip(prompts, params_list, strict=True)]
        self.generate_results.append(results)
        return results

    def _schedule(self, prompts: list[Any], params_list: list[SamplingParams]) -> None:
        """The CPU engine's crash: a seeded request whose prefill is split into chunks kills the engine (the
        runner rewinds the request's generator, and CPU generators have no offset). Modelled conservatively:
        with chunked prefill on, a seeded call whose n-fold prompts exceed one step's token budget, or whose
        samples exceed one step's sequences, dies; every later call finds the engine dead."""
        if self.dead:
            raise EngineDeadError("EngineCore encountered an issue. See stack trace (above) for the root cause.")
        scheduler = self.llm_engine.vllm_config.scheduler_config
        if not scheduler.enable_chunked_prefill or all(params.seed is None for params in params_list):
            return
        lengths = [len(p["prompt_token_ids"]) if isinstance(p, dict) else len(self.tokenizer(p)["input_ids"])
                   for p in prompts]
        samples = sum(params.n for params in params_list)
        tokens = sum(length * params.n for length, params in zip(lengths, params_list, strict=True))
        if tokens > scheduler.max_num_batched_tokens or samples > scheduler.max_num_seqs:
            self.dead = True
            raise EngineDeadError("RuntimeError: CPU Generator does not use offset")

    def _request(self, prompt: Any, params: SamplingParams) -> RequestOutput:
        if isinstance(prompt, dict):
            ids, text = list(prompt["prompt_token_ids"]), None
        else:
            ids, text = self.tokenizer(prompt)["input_ids"], prompt
        if not ids:
            raise ValueError("The decoder prompt cannot be empty")
        if len(ids) >= self.max_model_len:
            raise ValueError(f"The prompt (length {len(ids)}) is longer than max_model_len {self.max_model_len}.")
        if max(ids) >= self.model.config.vocab_size:
            raise ValueError(f"Token id {max(ids)} is out of vocabulary")
        children = []
        for index in range(params.n):
            generator = self.generator
            if params.seed is not None:  # parallel_sampling: child j of a seeded request gets seed + j
                generator = torch.Generator().manual_seed(params.seed + index)
            children.append(self._sample(ids, params, index, generator))
        wanted = params.logprobs is not None
        outputs = [CompletionOutput(
            index=child.index, text=child.text, token_ids=child.token_ids,
            cumulative_logprob=sum(step[token].logprob for step, token in zip(child.logprobs, child.token_ids,
                                                                             strict=True)) if wanted else None,
            logprobs=child.logprobs if wanted else None, finish_reason=child.finish_reason,
            stop_reason=child.stop_reason) for child in children]
        return RequestOutput(request_id=str(next(self.request_ids)), prompt=text, prompt_token_ids=ids,
                             outputs=outputs)

    @torch.inference_mode()
    def _sample(self, prompt_ids: list[int], params: SamplingParams, index: int,
                generator: torch.Generator) -> Child:
        child = Child(index)
        max_tokens = params.max_tokens or self.max_model_len - len(prompt_ids)
        cache = DynamicCache(config=self.model.config)
        input_ids = torch.tensor([prompt_ids])
        while child.finish_reason is None:
            logits = self.model(input_ids=input_ids, past_key_values=cache, use_cache=True).logits[0, -1].float()
            token = self._choose(logits, params, generator)
            raw = torch.log_softmax(logits, dim=-1)  # V1 returns logprobs of the raw, unprocessed distribution
            child.token_ids.append(token)
            child.logprobs.append(self._logprobs(raw, token, params.logprobs))
            self._check_stop(child, params, len(prompt_ids), max_tokens)
            self._detokenize(child, params)
            input_ids = torch.tensor([[token]])
        return child

    def _choose(self, logits: torch.Tensor, params: SamplingParams, generator: torch.Generator) -> int:
        if params.temperature < SAMPLING_EPS:
            return int(logits.argmax())
        probs = torch.softmax(logits / params.temperature, dim=-1)
        if params.top_p < 1.0:  # keep the smallest top set whose mass reaches top_p
            sorted_probs, order = probs.sort(descending=True)
            sorted_probs[(sorted_probs.cumsum(0) - sorted_probs) >= params.top_p] = 0.0
            probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
        return int(torch.multinomial(probs, 1, generator=generator))

    def _logprobs(self, raw: torch.Tensor, token: int, top: int | None) -> dict[int, Logprob]:
        """The sampled token's entry (always), plus the `top` most likely (all of them for -1)."""
        if top is None:
            return {}
        count = raw.numel() if top == -1 else top
        ranked = raw.topk(count).indices.tolist() if count else []
        entries = {}
        for rank, candidate in enumerate(ranked, start=1):
            entries[candidate] = Logprob(float(raw[candidate]), rank, self.tokenizer.decode([candidate]))
        if token not in entries:
            rank = int((raw > raw[token]).sum()) + 1
            entries = {token: Logprob(float(raw[token]), rank, self.tokenizer.decode([token])), **entries}
        return entries

    def _check_stop(self, child: Child, params: SamplingParams, prompt_len: int, max_tokens: int) -> None:
        """The scheduler's token checks (vllm/v1/core/sched/utils.py check_stop): EOS, stop tokens, length."""
        token = child.token_ids[-1]
        at_length = len(child.token_ids) >= max_tokens or prompt_len + len(child.token_ids) >= self.max_model_len
        if self.length_checked_first and at_length:
            child.finish_reason = "length"
        elif not params.ignore_eos and token == self.eos_token_id:
            child.finish_reason = "stop"
        elif token in params.stop_token_ids or (not params.ignore_eos and token in self.extra_stop_ids):
            child.finish_reason, child.stop_reason = "stop", token
        elif at_length:
            child.finish_reason = "length"

    def _detokenize(self, child: Child, params: SamplingParams) -> None:
        """The output processor: extend the text (without a stop token's text unless asked), then look for
        stop strings unless a token already stopped the request; a match overrides "length"."""
        stop_terminated = child.finish_reason == "stop"
        ids = child.token_ids[:-1] if stop_terminated and not params.include_stop_str_in_output else child.token_ids
        # Decoding the whole output each step is what incremental detokenization yields for these tokenizers.
        text = self.tokenizer.decode(ids, skip_special_tokens=params.skip_special_tokens)
        new_chars = len(text) - len(child.text)
        child.text = text
        if stop_terminated or not params.stop:
            return
        match = check_stop_strings(text, new_chars, params.stop, params.include_stop_str_in_output)  # type: ignore[arg-type]
        if match is not None:
            child.finish_reason, child.stop_reason = "stop", match[0]
            child.text = text[:match[1]]
