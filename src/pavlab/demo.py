"""`pavlab demo`: the whole chain on the built-in testbeds, cached by content, ending in a report.

Subset sum: take the testbed policy that ships with pavlab (trained once by `pavlab policy
train-testbed`), measure its regime (pass@k, steps, dead ends), label prefixes by Monte Carlo
with first-pit seeding, train an ORM and a Q^pi PRM (the PAV is the PRM with the Bo4
transform), evaluate the verifiers against the exact oracle, and run the powered search study
(ORM / PRM best-of-N, Q^pi / PAV / oracle beam, compared at equal tokens with bootstrap CIs). The
testbed RL study starts from the second shipped subset-sum policy, `subset_sum_habit` (the start on
which progress rewards reproduce, RESULTS.md 5b): ORM-RL against PAV-RL with the exact 0/1 oracle as
prover at alpha 3 (one seed, 100 iterations). Planted:
the RL study (PAV-RL with exact prover advantages vs ORM-RL). Then `report.md` and `report.html`.
Every stage is a content-cached folder under OUT/stages, so a second run only re-renders the
report; `--quick` runs the same chain with small budgets.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field

from pavlab.cache import CachedStage, cached_stage
from pavlab.config import PresetConfig
from pavlab.io import read_json, write_json
from pavlab.labeling.run import LabelConfig, run_labeling
from pavlab.policies.testbed import TESTBED_FILE, copy_shipped_testbed, shipped_testbed
from pavlab.report.demo_report import write_report
from pavlab.studies.rl import PlantedRLStudyConfig, run_planted_rl_study
from pavlab.studies.rl_countdown import CountdownRLStudyConfig, EvalSettings, run_countdown_rl_study
from pavlab.studies.search_alpha import AlphaSweepConfig, run_alpha_sweep
from pavlab.studies.search_compute import SearchComputeConfig, run_search_compute
from pavlab.studies.search_provers import ProverSweepConfig, run_prover_sweep
from pavlab.studies.testbed import TestbedStudyConfig, run_testbed_study
from pavlab.tasks.registry import TaskConfig
from pavlab.verifiers.evaluate import EvalVerifierConfig, run_eval_verifier
from pavlab.verifiers.train import VerifierTrainConfig, train_verifier

SHIPPED_TASK = "subset_sum"
# The subset-sum RL stage's start (a shipped testbed) and PAV arm, part of its cache key: a folder trained
# with other arms is not reused. The exact oracle only: the learned PAV that helps on this start needs two
# rounds of Monte Carlo labels of solver:0.3 (~1.5 CPU-hours, RESULTS.md 5b), the demo's PRM is of the
# other policy, and a third run (the exact solver:0.3 arm) would take the demo past 20 minutes.
SUBSET_RL_START = "subset_sum_habit"
SUBSET_RL_ARMS: dict[str, list[float]] = {"alphas": [], "oracle_alphas": [3.0]}


class DemoConfig(PresetConfig):
    """`pavlab demo`: where it writes, and the budgets of every stage (the full run's; `quick` for small ones)."""

    QUICK: ClassVar[dict[str, Any]] = {
        "sample_problems": 32, "sample_n": 16, "label_problems": 24, "n_cov": 2, "n_mc": 8, "val_problems": 12,
        "verifier_steps": 60, "search_problems": 16, "budgets": [1, 4, 16], "beam_budgets": [1, 4],
        "prover_budgets": [4], "alphas": [0.0, 0.5], "alpha_width": 4, "rl_iterations": 150,
        "subset_rl_iterations": 6, "subset_rl_eval_problems": 16, "subset_rl_eval_samples": 2}
    # The subset-sum RL stage's fields: its own cache key holds them, the other stages' keys do not (adding
    # them left those keys, and the finished stages of an earlier run, as they were).
    SUBSET_RL: ClassVar[tuple[str, ...]] = ("subset_rl_iterations", "subset_rl_eval_problems",
                                           "subset_rl_eval_samples")

    out: Path = Field(Path("runs/demo"), description="demo folder (stages are cached under OUT/stages)")
    quick: bool = Field(False, description="small budgets, same chain (a smoke check in a few minutes)")
    seed: int = 0
    sample_problems: int = Field(200, ge=1, description="testbed study: held-out problems")
    sample_n: int = Field(64, ge=1, description="testbed study: samples per problem")
    label_problems: int = Field(160, ge=1, description="train problems labeled")
    n_cov: int = Field(4, ge=1, description="seed responses per labeled problem")
    n_mc: int = Field(16, ge=1, description="Monte Carlo rollouts per labeled prefix")
    val_problems: int = Field(60, ge=1, description="held-out problems labeled to evaluate the verifiers")
    verifier_steps: int = Field(500, ge=1, description="ORM and PRM training steps")
    search_problems: int = Field(100, ge=1, description="problems of every search study")
    budgets: list[int] = Field([1, 2, 4, 8, 16, 32, 64], min_length=1, description="search-compute: values of N")
    beam_budgets: list[int] = Field([1, 2, 4], min_length=1, description="search-compute: beam widths")
    seeds: list[int] = Field([0], min_length=1, description="search studies' seeds")
    prover_budgets: list[int] = Field([4], min_length=1, description="search-provers: values of N")
    alphas: list[float] = Field([0.0, 0.5, 1.0], min_length=1, description="search-alpha: alphas")
    alpha_width: int = Field(4, ge=1, description="search-alpha: beam width")
    rl_iterations: int = Field(400, ge=1, description="RL study: iterations of ORM-RL and PAV-RL mu_10")
    subset_rl_iterations: int = Field(100, ge=2, description="subset-sum RL study: iterations per arm (one seed)")
    subset_rl_eval_problems: int = Field(512, ge=1, description="subset-sum RL study: held-out test problems")
    subset_rl_eval_samples: int = Field(4, ge=1, description="subset-sum RL study: samples per held-out problem")

    def budget(self) -> dict[str, Any]:
        """The budget fields every stage's cache key holds (the subset-sum RL stage's: `subset_rl_budget`)."""
        return self.model_dump(exclude={"out", "quick", "seed", *self.SUBSET_RL})

    def subset_rl_budget(self) -> dict[str, Any]:
        """The subset-sum RL stage's budget fields."""
        return self.model_dump(include=set(self.SUBSET_RL))


def subset_rl_study(config: DemoConfig, policy: Path, verifier: Path, task: TaskConfig,
                    out: Path) -> CountdownRLStudyConfig:
    """The demo's subset-sum RL study: `pavlab study rl-countdown` from the practised-habit start `policy`.

    ORM-RL and PAV-RL with the exact 0/1 oracle as prover at alpha 3, arms of RESULTS.md section 5b
    whose 6-seed figures the report cites (with those of the arms the demo does not run), with the
    study's recipe on this start (no RFT; value baseline, KL 0.001, lr 1e-4) and the start's own task
    options (`task`). `verifier` is the demo's PRM, which these arms do not read (the study loads it for
    its beam evaluations, skipped here). One seed (the demo's), no ablation, training only
    (`evals.skip`), evaluated at the start, the middle and the end; the two runs train at once.
    """
    b = config.subset_rl_budget()
    iterations = b["subset_rl_iterations"]
    return CountdownRLStudyConfig(
        out=out, policy=policy, verifier=verifier, task=task, **SUBSET_RL_ARMS, ablation=False,
        seeds=[config.seed], iterations=iterations, eval_every=max(1, iterations // 2), workers=2,
        settings={"eval_problems": b["subset_rl_eval_problems"], "eval_samples": b["subset_rl_eval_samples"],
                  "rft_steps": 0},
        evals=EvalSettings(skip=True))


def run_subset_rl(study: CountdownRLStudyConfig) -> Path:
    """Run the demo's subset-sum RL study; its Markdown's command is the `pavlab study rl-countdown` line it equals."""
    settings = " ".join(f"--settings.{k} {v}" for k, v in study.settings.items())
    task = " ".join(f"--task.{k} {v}" for k, v in study.task.model_dump(exclude_defaults=True).items())

    def listed(values: list[float]) -> str:
        return ",".join(f"{v:g}" for v in values) or "''"

    solvers = (f"--solvers {listed(study.solvers)} --solver_alphas {listed(study.solver_alphas)} "
               if study.solvers else "")
    command = (f"pavlab study rl-countdown --policy {study.policy} --verifier {study.verifier} {task} "
               f"--alphas {listed(study.alphas)} --oracle_alphas {listed(study.oracle_alphas)} {solvers}--no-ablation "
               f"--seeds {','.join(map(str, study.seeds))} --iterations {study.iterations} "
               f"--eval_every {study.eval_every} {settings} --evals.skip true --workers {study.workers} "
               f"--out {study.out}")
    return run_countdown_rl_study(study, command=command)


def run_demo(config: DemoConfig) -> Path:
    """The `demo` job: run (or reuse) every stage, then write the report; returns report.md (report.html beside)."""
    run_demo_stages(config)
    return write_report(config.out)[0]


def run_demo_stages(config: DemoConfig) -> dict[str, CachedStage]:
    """Run (or reuse) every stage; writes demo.json (the stages by name, what the report reads)."""
    p = config.budget()
    root, seed = config.out, config.seed
    shipped = shipped_testbed(SHIPPED_TASK)
    record = read_json(shipped / TESTBED_FILE)
    task = TaskConfig(name=SHIPPED_TASK, **record["task_options"])
    stages: dict[str, CachedStage] = {}
    stages["policy"] = cached_stage(root, "policy", {"shipped": record},
                                    lambda d: copy_shipped_testbed(SHIPPED_TASK, d))
    policy = stages["policy"].path
    stages["samples"] = cached_stage(root, "testbed", {"policy": stages["policy"].key, **p, "seed": seed},
                                     lambda d: run_testbed_study(TestbedStudyConfig(
                                         task=task, policy=str(policy), problems=p["sample_problems"],
                                         n=p["sample_n"], seed=seed, out=d)))

    def label(split: str, problems: int) -> CachedStage:
        spec = {"policy": stages["policy"].key, "split": split, "problems": problems, "n_cov": p["n_cov"],
                "n_mc": p["n_mc"], "seed": seed}
        return cached_stage(root, f"labels-{split}", spec, lambda d: run_labeling(LabelConfig(
            task=task, policy=str(policy), split=split, problems=problems, n_cov=p["n_cov"], n_mc=p["n_mc"],
            seeding="first_pit" if split == "train" else "random", seed=seed, out=d)))

    stages["labels"] = label("train", p["label_problems"])
    stages["labels_val"] = label("val", p["val_problems"])
    val_labels = [str(stages["labels_val"].path / "labels")]
    for kind in ("orm", "prm"):
        train = VerifierTrainConfig(kind=kind, init=str(policy), steps=p["verifier_steps"], seed=seed,
                                    warmup=max(1, p["verifier_steps"] // 10), lr=3e-4, batch_size=64,
                                    prover="bok:4" if kind == "prm" else None, device="cpu")
        stages[kind] = cached_stage(root, kind, {"labels": stages["labels"].key, **train.model_dump(mode="json")},
                                    lambda d, train=train: train_verifier(train, [stages["labels"].path / "labels"], d))
    for name, kind, as_prover in (("eval_orm", "orm", None), ("eval_prm", "prm", None), ("eval_pav", "prm", "bok:4")):
        stages[name] = cached_stage(
            root, name.replace("_", "-"), {"verifier": stages[kind].key, "labels": stages["labels_val"].key,
                                           "as_prover": as_prover},
            lambda d, kind=kind, as_prover=as_prover: run_eval_verifier(EvalVerifierConfig(
                verifier=str(stages[kind].path), labels=val_labels, task=SHIPPED_TASK, as_prover=as_prover, out=d)))
    shared = {"task": task, "policy": str(policy), "verifier": stages["prm"].path, "prover": "bok:4",
              "seeds": p["seeds"], "problems": p["search_problems"]}
    stages["search"] = cached_stage(root, "search", {"prm": stages["prm"].key, "orm": stages["orm"].key, **p},
                                    lambda d: run_search_compute(SearchComputeConfig(
                                        **shared, orm=stages["orm"].path, budgets=p["budgets"],
                                        beam_budgets=p["beam_budgets"], compare_dedup=False, bootstrap=200, out=d)))
    stages["provers"] = cached_stage(root, "search-provers", {"prm": stages["prm"].key, **p},
                                     lambda d: run_prover_sweep(ProverSweepConfig(
                                         **shared, budgets=p["prover_budgets"], bok=[1, 2, 4, 8, 32], out=d)))
    stages["alpha"] = cached_stage(root, "search-alpha", {"prm": stages["prm"].key, **p}, lambda d: run_alpha_sweep(
        AlphaSweepConfig(**shared, alphas=p["alphas"], width=p["alpha_width"], out=d)))
    # The testbed RL study (RESULTS.md section 5b: 6 seeds x 200 iterations, hours) at a demo's budget, from
    # the shipped start on which it reproduces.
    rl_start = read_json(shipped_testbed(SUBSET_RL_START) / TESTBED_FILE)
    stages["rl_start"] = cached_stage(root, "rl-start", {"shipped": rl_start},
                                      lambda d: copy_shipped_testbed(SUBSET_RL_START, d))
    rl_task = TaskConfig(name=rl_start["task"], **rl_start["task_options"])
    stages["rl_subset"] = cached_stage(
        root, "rl-subset-sum", {"policy": stages["rl_start"].key, "prm": stages["prm"].key, "seed": seed,
                                **SUBSET_RL_ARMS, **config.subset_rl_budget()},
        lambda d: run_subset_rl(subset_rl_study(config, stages["rl_start"].path, stages["prm"].path, rl_task, d)))
    # The full RL study (5 gammas x 3 seeds, the ablation and a 10x ORM-RL run; its wall time: RESULTS.md
    # section 5) is too long for the demo: it runs the headline pair, ORM-RL vs PAV-RL mu_10, from the
    # shipped start at the study's settings.
    rl = {"gammas": (10.0,), "seeds": (seed,), "iterations": p["rl_iterations"], "ablation_gamma": None,
          "orm_factor": 1}
    stages["rl"] = cached_stage(root, "rl-planted", rl, lambda d: run_planted_rl_study(PlantedRLStudyConfig(
        out=d, **rl)))
    write_json(root / "demo.json", {"config": config.model_dump(mode="json"),
                                    "stages": {name: str(s.path) for name, s in stages.items()}})
    return stages
