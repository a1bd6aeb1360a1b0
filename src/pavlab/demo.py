"""`pavlab demo`: the whole chain on the built-in testbeds, cached by content, ending in a report.

Countdown: train the testbed policy, measure it (pass@k), label prefixes by Monte Carlo, train
an ORM and a Q^pi PRM (the PAV is the PRM with the Bo4 transform), evaluate the verifiers
against the exact oracle, and run the search study (ORM best-of-N vs Q-beam vs PAV-beam).
Planted: the RL study (PAV-RL with exact prover advantages vs ORM-RL). Then `report.md` and
`report.html`. Every stage is a content-cached folder under OUT/stages, so a second run only
re-renders the report; `--quick` runs the same chain with small budgets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from pavlab.config import Config
from pavlab.io import read_jsonl, write_json
from pavlab.labeling.run import LabelConfig, run_labeling
from pavlab.metrics import summarize_samples
from pavlab.pipeline import Stage, run_stage
from pavlab.policies.testbed import TestbedConfig, train_testbed
from pavlab.sampling import SampleConfig, run_sampling
from pavlab.studies.rl import run_planted_rl_study
from pavlab.studies.search import SearchStudyConfig, run_search_study
from pavlab.studies.search_alpha import AlphaSweepConfig, run_alpha_sweep
from pavlab.studies.search_provers import ProverSweepConfig, run_prover_sweep
from pavlab.tasks.registry import TaskConfig
from pavlab.verifiers.evaluate import EvalVerifierConfig, run_eval_verifier
from pavlab.verifiers.train import VerifierTrainConfig, train_verifier

# Budgets of the two profiles: (full, quick).
PROFILES: dict[str, dict[str, Any]] = {
    "full": {"testbed": {}, "sample_problems": 128, "sample_n": 32, "label_problems": 192, "n_cov": 4, "n_mc": 8,
             "val_problems": 48, "verifier_steps": 600, "search_problems": 48, "budgets": [1, 2, 4, 8, 16, 32],
             "seeds": [0, 1, 2], "prover_budgets": [4, 16], "alphas": [0.0, 0.2, 0.5, 0.8, 1.0], "alpha_width": 8},
    "quick": {"testbed": {"steps": 120}, "sample_problems": 16, "sample_n": 8, "label_problems": 24, "n_cov": 2,
              "n_mc": 4, "val_problems": 8, "verifier_steps": 40, "search_problems": 8, "budgets": [1, 4],
              "seeds": [0], "prover_budgets": [4], "alphas": [0.0, 0.5], "alpha_width": 4},
}


class DemoConfig(Config):
    out: Path = Field(Path("runs/demo"), description="demo folder (stages are cached under OUT/stages)")
    quick: bool = Field(False, description="small budgets, same chain (a smoke check in a few minutes)")
    seed: int = 0
    task: TaskConfig = Field(default_factory=lambda: TaskConfig(name="countdown", max_number=10),
                             description="countdown options; the testbed policy is trained on the same")


def _sample_stage(folder: Path, task: TaskConfig, policy: Path, p: dict[str, Any], seed: int) -> None:
    samples = run_sampling(SampleConfig(task=task, policy=str(policy), split="test", problems=p["sample_problems"],
                                        n=p["sample_n"], seed=seed, out=folder / "samples.jsonl"))
    write_json(folder / "pass_at_k.json", summarize_samples(read_jsonl(samples)))


def run_demo(config: DemoConfig) -> dict[str, Stage]:
    """Run (or reuse) every stage; returns the stages by name for the report."""
    p = PROFILES["quick" if config.quick else "full"]
    root, task, seed = config.out, config.task, config.seed
    stages: dict[str, Stage] = {}
    testbed = TestbedConfig(seed=seed, n_numbers=task.n_numbers, max_number=task.max_number, **p["testbed"])
    stages["policy"] = run_stage(root, "policy", testbed.model_dump(mode="json"),
                                 lambda d: train_testbed("countdown", d, testbed))
    policy = stages["policy"].path
    stages["samples"] = run_stage(root, "samples", {"policy": stages["policy"].key, **p, "seed": seed},
                                  lambda d: _sample_stage(d, task, policy, p, seed))

    def label(split: str, problems: int) -> Stage:
        spec = {"policy": stages["policy"].key, "split": split, "problems": problems, "n_cov": p["n_cov"],
                "n_mc": p["n_mc"], "seed": seed}
        return run_stage(root, f"labels-{split}", spec, lambda d: run_labeling(LabelConfig(
            task=task, policy=str(policy), split=split, problems=problems, n_cov=p["n_cov"], n_mc=p["n_mc"],
            seed=seed, out=d)))

    stages["labels"] = label("train", p["label_problems"])
    stages["labels_val"] = label("val", p["val_problems"])
    for kind in ("orm", "prm"):
        train = VerifierTrainConfig(kind=kind, init=str(policy), steps=p["verifier_steps"], seed=seed,
                                    warmup=max(1, p["verifier_steps"] // 10), lr=3e-4, batch_size=64,
                                    prover="bok:4" if kind == "prm" else None, device="cpu")
        stages[kind] = run_stage(root, kind, {"labels": stages["labels"].key, **train.model_dump(mode="json")},
                                 lambda d, train=train: train_verifier(train, [stages["labels"].path / "labels"], d))
        stages[f"eval_{kind}"] = run_stage(
            root, f"eval-{kind}", {"verifier": stages[kind].key, "labels": stages["labels_val"].key},
            lambda d, kind=kind: run_eval_verifier(EvalVerifierConfig(
                verifier=str(stages[kind].path), labels=[str(stages["labels_val"].path / "labels")], task="countdown",
                out=d)))
    shared = {"task": task, "policy": str(policy), "verifier": stages["prm"].path, "prover": "bok:4",
              "seeds": p["seeds"], "problems": p["search_problems"]}
    stages["search"] = run_stage(root, "search", {"prm": stages["prm"].key, **p}, lambda d: run_search_study(
        SearchStudyConfig(**shared, budgets=p["budgets"], out=d)))
    stages["provers"] = run_stage(root, "search-provers", {"prm": stages["prm"].key, **p}, lambda d: run_prover_sweep(
        ProverSweepConfig(**shared, budgets=p["prover_budgets"], bok=[1, 2, 4, 8, 32], out=d)))
    stages["alpha"] = run_stage(root, "search-alpha", {"prm": stages["prm"].key, **p}, lambda d: run_alpha_sweep(
        AlphaSweepConfig(**shared, alphas=p["alphas"], width=p["alpha_width"], out=d)))
    # The full RL study (5 gammas x 3 seeds x 300 iterations) takes ~20 min alone: the demo runs its
    # quick profile; `pavlab study rl-planted` runs the full one.
    stages["rl"] = run_stage(root, "rl-planted", {"quick": True, "seed": seed},
                             lambda d: run_planted_rl_study(d, quick=True))
    write_json(root / "demo.json", {"config": config.model_dump(mode="json"),
                                    "stages": {name: str(s.path) for name, s in stages.items()}})
    return stages
