"""vLLM backend (GPU): the same `PolicyBackend` interface, with paged attention and prefix caching.

Why: MC labeling and beam search ask for many continuations of shared prefixes; vLLM's
automatic prefix caching prefills each shared prefix once across requests and calls, which is
what the HF backend does by hand within one call. Prompts go in as token ids built by
`encode_prompt` + `encode_response` (one tokenization convention for policy, verifier and RL),
steps stop at the separator string (kept in the output), and completion text is decoded from
the returned ids exactly as `HFPolicy` decodes it, so rows do not depend on the backend.

Spec: `vllm:PATH` or `vllm:PATH?gpu_memory_utilization=0.45&tensor_parallel_size=2` (options
below), so a recipe can leave GPU memory for a verifier on the same device.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from pydantic import Field, ValidationError

from pavlab.config import Config
from pavlab.errors import PavlabError
from pavlab.policies.base import Completion, PolicyBackend, SamplingParams
from pavlab.policies.loading import load_tokenizer, resolve_checkpoint
from pavlab.policies.tokenization import encode_prompt, encode_response

VLLM_INSTALL_HINT = "the vLLM backend needs vllm (and a GPU): pip install 'pavlab[vllm]'"


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


def parse_vllm_spec(spec: str) -> tuple[str, VLLMOptions]:
    """`PATH?key=value&...` -> (PATH, options); unknown or bad options are one-line user errors."""
    path, _, query = spec.partition("?")
    if not path:
        raise PavlabError(f"bad vLLM policy spec 'vllm:{spec}' (expected vllm:PATH[?option=value&...])",
                          field="policy")
    try:
        return path, VLLMOptions.model_validate(dict(parse_qsl(query, strict_parsing=bool(query))))
    except ValueError as exc:
        detail = exc.errors()[0] if isinstance(exc, ValidationError) else {"loc": (), "msg": str(exc)}
        name = ".".join(str(part) for part in detail["loc"])
        raise PavlabError(f"bad vLLM option {name!r} in 'vllm:{spec}': {detail['msg']}", field="policy") from None


def import_vllm() -> tuple[Any, Any, Any]:
    """(LLM, SamplingParams, TokensPrompt), imported on first use; a one-line error without the extra."""
    try:
        from vllm import LLM, SamplingParams
        from vllm.inputs import TokensPrompt
    except ImportError:
        raise PavlabError(VLLM_INSTALL_HINT, field="policy") from None
    return LLM, SamplingParams, TokensPrompt


def finish_reason_of(output: Any, stop: str) -> str:
    """vLLM's (finish_reason, stop_reason) -> pavlab's "step" | "eos" | "length".

    vLLM reports "stop" for both a stop string (stop_reason = the string) and EOS or a stop
    token (stop_reason None or an id); only a stop string ends a step.
    """
    if output.finish_reason == "length":
        return "length"
    if stop == "step" and isinstance(output.stop_reason, str):
        return "step"
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
        self.tokenizer = load_tokenizer(self.path)
        opts = self.options
        self.engine = engine_cls(model=str(self.path), tokenizer=str(self.path), dtype=opts.dtype,
                               gpu_memory_utilization=opts.gpu_memory_utilization,
                               tensor_parallel_size=opts.tensor_parallel_size, max_model_len=opts.max_model_len,
                               enable_prefix_caching=opts.enable_prefix_caching, seed=opts.seed)

    def context_ids(self, prompt: str, prefix: str) -> list[int]:
        return encode_prompt(self.tokenizer, prompt) + encode_response(self.tokenizer, prefix)[0]

    def request_params(self, params: SamplingParams, n: int, index: int) -> Any:
        """vLLM sampling params of request `index`: its own seed, so duplicate contexts differ."""
        return self._sampling_params_cls(
            n=n, temperature=params.temperature, top_p=params.top_p, max_tokens=params.max_new_tokens,
            stop=[self.step_separator] if params.stop == "step" else None, include_stop_str_in_output=True,
            logprobs=0, seed=None if params.seed is None else params.seed + index, skip_special_tokens=False)

    def sample(self, prompts: list[str], prefixes: list[str], n: int,
               params: SamplingParams) -> list[list[Completion]]:
        self.check_request(prompts, prefixes, n, params)
        requests = [self._tokens_prompt_cls(prompt_token_ids=self.context_ids(prompt, prefix))
                    for prompt, prefix in zip(prompts, prefixes, strict=True)]
        outputs = self.engine.generate(requests, [self.request_params(params, n, i) for i in range(len(requests))],
                                       use_tqdm=False)
        result = [[self.completion(output, params.stop) for output in request.outputs] for request in outputs]
        self.charge(outputs, n)
        return result

    def completion(self, output: Any, stop: str) -> Completion:
        """One vLLM `CompletionOutput` as a pavlab Completion (EOS kept in ids and logprobs, not in text)."""
        token_ids = list(output.token_ids)
        logprobs = [step[token].logprob for step, token in zip(output.logprobs, token_ids, strict=True)]
        reason = finish_reason_of(output, stop)
        text_ids = token_ids[:-1] if reason == "eos" and token_ids else token_ids
        text = self.tokenizer.decode(text_ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        return Completion(text=text, token_ids=token_ids, logprobs=logprobs, finish_reason=reason)  # type: ignore[arg-type]

    def charge(self, outputs: list[Any], n: int) -> None:
        """Meter: each request's prompt once (what prefill would cost without the prefix cache), every
        generated token, and one forward pass per decode step of the longest sample (continuous batching)."""
        self.meter.prompt_tokens += sum(len(request.prompt_token_ids) for request in outputs)
        lengths = [len(output.token_ids) for request in outputs for output in request.outputs]
        self.meter.generated_tokens += sum(lengths)
        self.meter.forward_passes += max(lengths, default=0)
        self.meter.samples += n * len(outputs)
