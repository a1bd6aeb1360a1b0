"""Every section of every shipped recipe validates against the config class of the command it feeds."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from pavlab.cli.verifiers import TrainVerifierCommandConfig
from pavlab.config import Config, load_config, read_recipe
from pavlab.labeling.run import LabelConfig, label_shards, run_labeling
from pavlab.policies.testbed import TestbedConfig
from pavlab.rl.config import RLConfig
from pavlab.sampling import SampleConfig, run_sampling
from pavlab.search.run import SearchConfig

RECIPES = sorted((Path(__file__).parents[1] / "recipes").glob("*.yaml"))
SECTIONS: dict[str, type[Config]] = {"testbed": TestbedConfig, "sample": SampleConfig, "label": LabelConfig,
                                     "train_verifier": TrainVerifierCommandConfig, "search": SearchConfig,
                                     "rl": RLConfig}


def test_the_four_recipes_ship() -> None:
    assert {path.stem for path in RECIPES} == {"countdown_testbed", "smollm2_gsm8k", "gemma2_2b_math",
                                               "qwen25_math_1_5b_math"}


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda path: path.stem)
def test_recipe_sections_validate(recipe: Path) -> None:
    mappings = [key for key, value in read_recipe(recipe).items() if isinstance(value, dict)]
    sections = [key for key in mappings if key in SECTIONS]
    assert sections and set(mappings) - set(SECTIONS) <= {"task"}  # `task` is a shared field, not a stage
    for section in sections:
        config = load_config(SECTIONS[section], recipe, section=section)
        if "policy" in SECTIONS[section].model_fields:
            assert config.policy == read_recipe(recipe)["policy"]  # the shared top-level field reached it


@pytest.mark.slow
def test_smollm2_gsm8k_recipe_runs_end_to_end_on_cpu(tmp_path: Path) -> None:
    """Sampling + labeling of the SmolLM2 recipe on 4 problems with tiny budgets (the model from the wheel)."""
    recipe = Path(__file__).parents[1] / "recipes" / "smollm2_gsm8k.yaml"
    started = time.perf_counter()
    sample = load_config(SampleConfig, recipe, {"problems": 4, "n": 1, "generation": {"max_new_tokens": 24},
                                                "out": str(tmp_path / "samples.jsonl")}, section="sample")
    rows = list(open(run_sampling(sample)))
    assert len(rows) == 4
    label = load_config(LabelConfig, recipe, {"problems": 4, "n_cov": 1, "n_mc": 2, "workers": 0,
                                              "generation": {"max_new_tokens": 24}, "out": str(tmp_path / "labels")},
                        section="label")
    labels = list(label_shards(run_labeling(label)).rows())
    assert len(labels) == 4
    assert all(len(row["q_hat"]) == len(row["steps"]) + 1 for row in labels)
    print(f"smollm2 recipe end to end: {time.perf_counter() - started:.1f} s")
