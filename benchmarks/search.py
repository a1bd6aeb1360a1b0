"""Wall-clock of PAV beam search against best-of-N at the same number of generated tokens.

Beam search pays for what best-of-N does not: one sampling call and one verifier call per depth,
each resuming every beam's prefix. The policy reads only each beam's last token on top of the
keys/values it kept from the previous depth (`policies/context_cache.py`) and the verifier only each
candidate's new step (`verifiers/prefix_cache.py`). This measures that overhead, and runs beam
search twice more, once with the policy prefilling every beam's whole context and once with the
verifier re-reading whole prefixes, to show what each reuse saves. Beam search (width B, C = 3,
score q+a) runs first; best-of-N (ORM = Q^pi of the last state) then draws N samples per problem
with N chosen so that it generates about as many tokens, and the headline is the ratio of
wall-clock per generated token (beam / best-of-N). CPU seconds (this process's, one torch thread
by default) are printed beside: on a busy shared machine they say more than wall-clock.

Models: `--policy DIR` (a trained testbed checkpoint) and `--verifier DIR`, or by default random
testbed-shaped Llamas (hidden 128, 4 layers) on a small number tokenizer. A random policy's
output layer gets a fixed bias towards the step separator and EOS, so its steps (~10 tokens) and
responses (~3 steps) are as long as a trained testbed's; the compute per token is unchanged.
`--task subset_sum` runs on the subset-sum testbed (pass its checkpoint with `--policy`).
Run: `.venv/bin/python benchmarks/search.py [--quick]`.
"""

from __future__ import annotations

import argparse
import math
import time

import torch
from transformers import LlamaForCausalLM, PreTrainedModel

from pavlab.policies.base import SamplingParams
from pavlab.policies.hf import HFPolicy
from pavlab.policies.loading import load_model_and_tokenizer
from pavlab.policies.prover_spec import Prover
from pavlab.policies.testbed import COUNTDOWN_SYMBOLS
from pavlab.policies.testbed_tokenizer import build_number_tokenizer
from pavlab.search.beam import beam_search
from pavlab.search.best_of_n import iid_search
from pavlab.search.outcome import SearchBatch
from pavlab.search.scorers import ResponseScores, StepScorer, build_scorer
from pavlab.tasks.registry import get_task
from pavlab.testing import tiny_llama
from pavlab.verifiers.model import ValueModel
from pavlab.verifiers.step_scores import ProcessVerifier

STEP_TOKENS = 10  # mean tokens per step of the shaped random policy
RESPONSE_STEPS = 3  # mean steps per response of the shaped random policy


def testbed_shaped(tokenizer, seed: int) -> LlamaForCausalLM:
    return tiny_llama(tokenizer, seed, hidden=128, intermediate=384, layers=4, kv_heads=4, max_positions=512, tie=True)


def shape_lengths(model: PreTrainedModel, tokenizer) -> None:
    """Bias the output layer so a random model ends a step every ~STEP_TOKENS tokens and a response every ~3 steps."""
    others = len(tokenizer) - 2
    newline, eos = tokenizer.convert_tokens_to_ids("\n"), tokenizer.eos_token_id
    bias = torch.zeros(len(tokenizer))
    bias[newline] = math.log(others / (STEP_TOKENS - 1))
    bias[eos] = math.log(others / (STEP_TOKENS * RESPONSE_STEPS - 1))
    model.get_output_embeddings().register_forward_hook(lambda module, inputs, output: output + bias)


def load_models(args: argparse.Namespace) -> tuple[HFPolicy, ProcessVerifier]:
    if args.policy:
        model, tokenizer = load_model_and_tokenizer(args.policy)
    else:
        tokenizer = build_number_tokenizer(20, COUNTDOWN_SYMBOLS)
        model = testbed_shaped(tokenizer, seed=0)
        shape_lengths(model, tokenizer)
    if args.verifier:
        verifier = ProcessVerifier.load(args.verifier, "bok:4")
    else:
        value_model = ValueModel.from_backbone(testbed_shaped(tokenizer, seed=1), prover="bok:4").eval()
        verifier = ProcessVerifier(value_model, tokenizer, Prover.parse("bok:4"))
    return HFPolicy(model, tokenizer), verifier


class RereadingScorer:
    """The same scorer without its prefix reuse: every depth re-reads whole prefixes (the old behaviour)."""

    def __init__(self, scorer: StepScorer) -> None:
        self.name, self.scorer = scorer.name, scorer

    def score(self, problems, steps_lists, meter=None) -> list[ResponseScores]:
        return self.scorer.score(problems, steps_lists, meter)


def timed(run) -> tuple[SearchBatch, float, float]:
    """The run's result, wall-clock seconds and CPU seconds (of this process)."""
    start, cpu = time.perf_counter(), time.process_time()
    batch = run()
    return batch, time.perf_counter() - start, time.process_time() - cpu


def fastest(runs: list[tuple[SearchBatch, float, float]]) -> tuple[SearchBatch, float, float]:
    """One result with the least wall-clock and the least CPU seconds of repeated runs (the same seeded search)."""
    return runs[0][0], min(run[1] for run in runs), min(run[2] for run in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 problems, B = 4 (under a minute)")
    parser.add_argument("--policy", help="testbed checkpoint folder (default: shaped random Llama)")
    parser.add_argument("--verifier", help="verifier folder (default: random ValueModel of the same shape)")
    parser.add_argument("--width", type=int, help="beam width B (default 4 quick, 16 full)")
    parser.add_argument("--task", default="countdown", choices=["countdown", "subset_sum"],
                        help="task (the default random models are countdown-shaped)")
    parser.add_argument("--problems", type=int, help="test problems (default 8 quick, 32 full)")
    parser.add_argument("--step-tokens", type=int, default=16,
                        help="max tokens per step; a response may use 4 steps' worth (testbed steps are ~10)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 is fastest on the shared 2-core box)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="run the four searches this many times in turn and keep each one's fastest (the first "
                             "large run in a process is slower: its memory is fresh)")
    args = parser.parse_args()
    width = args.width or (4 if args.quick else 16)
    n_problems = args.problems or (8 if args.quick else 32)
    torch.set_num_threads(args.threads)
    task = get_task(args.task)
    problems = task.problems("test", n_problems)
    policy, verifier = load_models(args)
    pav, orm = build_scorer("q+a", task, verifier, 0.5), build_scorer("q", task, verifier)
    step = SamplingParams(max_new_tokens=args.step_tokens, seed=0)
    response = SamplingParams(max_new_tokens=4 * args.step_tokens, seed=0)

    prefilling = HFPolicy(policy.model, policy.tokenizer, context_cache_bytes=0)  # no KV carried across depths
    iid_search("best_of_n", task, policy, problems[:2], 2, response, orm)  # warm-up
    beam_search(task, policy, pav, problems[:2], 2, step, candidates=3)
    pilot = iid_search("best_of_n", task, policy, problems, width, response, orm)
    per_sample = pilot.compute["generated_tokens"] / pilot.compute["samples"]
    arms = {"beam": lambda: beam_search(task, policy, pav, problems, width, step, candidates=3),
            "prefill": lambda: beam_search(task, prefilling, pav, problems, width, step, candidates=3),
            "reread": lambda: beam_search(task, policy, RereadingScorer(pav), problems, width, step, candidates=3)}
    runs: dict[str, list[tuple[SearchBatch, float, float]]] = {name: [] for name in (*arms, "bon")}
    n = 0
    for _ in range(max(1, args.repeats)):
        for name, arm in arms.items():
            runs[name].append(timed(arm))
        if not n:  # best-of-N's N: about the tokens beam search generated
            n = max(1, round(runs["beam"][0][0].compute["generated_tokens"] / (per_sample * len(problems))))
        runs["bon"].append(timed(lambda n=n: iid_search("best_of_n", task, policy, problems, n, response, orm)))
    beam, prefill, reread, bon = (fastest(runs[name]) for name in ("beam", "prefill", "reread", "bon"))

    rows = (("beam (q+a)", f"B={width}, C=3", beam), ("beam, prefill", f"B={width}, C=3", prefill),
            ("beam, re-read", f"B={width}, C=3", reread), ("best-of-N (ORM)", f"N={n}", bon))
    print(f"{len(problems)} {args.task} problems, torch threads={torch.get_num_threads()}, fastest of {args.repeats}; "
          f"beam, prefill: the policy prefills every beam's context; beam, re-read: the verifier re-reads whole "
          f"prefixes")
    print(f"{'method':16s} {'budget':10s} {'tokens':>8s} {'samples':>8s} {'prompt tok':>10s} {'verifier tok':>12s} "
          f"{'seconds':>8s} {'cpu s':>7s} {'ms/token':>9s} {'accuracy':>8s}")
    for name, budget, (batch, seconds, cpu) in rows:
        compute = batch.compute
        accuracy = sum(o.correct for o in batch.outcomes) / len(problems)
        print(f"{name:16s} {budget:10s} {compute['generated_tokens']:8d} {compute['samples']:8d} "
              f"{compute['prompt_tokens']:10d} {compute['verifier_tokens']:12d} {seconds:8.2f} {cpu:7.2f} "
              f"{1000 * seconds / compute['generated_tokens']:9.3f} {accuracy:8.3f}")

    def over_best_of_n(run: tuple[SearchBatch, float, float], which: int = 1) -> float:
        """Seconds (which=1) or CPU seconds (which=2) per generated token, over best-of-N's."""
        return (run[which] / run[0].compute["generated_tokens"]) / (bon[which] / bon[0].compute["generated_tokens"])

    for name, run in (("beam", beam), ("beam, policy prefilling every context", prefill),
                      ("beam, verifier re-reading whole prefixes", reread)):
        print(f"{name} / best-of-N per token: wall {over_best_of_n(run):.2f}, CPU {over_best_of_n(run, 2):.2f}")
    tokens = beam[0].compute["generated_tokens"] / bon[0].compute["generated_tokens"]
    print(f"token ratio beam / best-of-N: {tokens:.2f}")
    ratio = over_best_of_n(beam)
    print(f"beam_over_best_of_n_wallclock_at_equal_tokens: {ratio:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
