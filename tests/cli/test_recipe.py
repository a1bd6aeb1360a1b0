"""`pavlab recipe run`: smoke scaling, relocation under --out, overrides, one-line errors, a whole countdown chain."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pavlab.errors import PavlabError
from pavlab.recipe import prepare_recipe, stage_config

RECIPES = Path(__file__).parents[2] / "recipes"
COUNTDOWN = RECIPES / "countdown_testbed.yaml"


def test_smoke_caps_budgets_and_moves_every_output_under_out(tmp_path: Path) -> None:
    out = tmp_path / "smoke"
    recipe, written = prepare_recipe(COUNTDOWN, out, smoke=True)
    original = yaml.safe_load(COUNTDOWN.read_text())
    assert recipe["policy"] == str(out / "policy")  # the testbed's output, and every stage's policy
    assert recipe["train_verifier"]["init"] == str(out / "policy")
    assert recipe["train_verifier"]["labels"] == [str(out / "labels")]
    assert recipe["search"]["verifier"] == recipe["rl"]["verifier"] == str(out / "verifier")
    label = stage_config("label", written)
    assert (label.problems, label.n_mc, label.n_cov, label.workers, label.generation.max_new_tokens) == (4, 2, 1, 0, 32)
    assert label.seeding == original["label"]["seeding"] and label.pit_seeds == 1  # a default it left large: capped
    rl = stage_config("rl", written)
    assert (rl.iterations, rl.problems_per_iteration, rl.group_size, rl.eval_problems) == (2, 2, 2, 2)
    assert rl.rft_steps == 0  # a cap never raises a budget: the countdown recipe has no RFT
    assert rl.alpha == original["rl"]["alpha"]  # what is not a budget is left alone
    assert stage_config("testbed", written).steps == 40
    assert stage_config("train_verifier", written).steps == 2


def test_gpu_recipe_smoke_reads_the_same_local_weights_with_hf_on_cpu(tmp_path: Path) -> None:
    _, written = prepare_recipe(RECIPES / "gemma2_2b_math.yaml", tmp_path, smoke=True)
    sample = stage_config("sample", written)
    assert sample.policy == "/checkpoints/gemma-2-2b-math-sft" and sample.device == "cpu"
    rl = stage_config("rl", written)
    assert rl.device == "cpu" and rl.rft_steps == 2 and rl.lora_rank == 64


def test_out_without_smoke_moves_outputs_and_keeps_budgets(tmp_path: Path) -> None:
    recipe, written = prepare_recipe(COUNTDOWN, tmp_path, smoke=False)
    label = stage_config("label", written)
    assert label.out == tmp_path / "labels" and label.n_mc == 16 and label.problems == 512


def test_shared_overrides_reach_every_stage_with_the_field_and_section_ones_one_stage(tmp_path: Path) -> None:
    overrides = {"seed": 3, "label": {"n_mc": 4, "generation": {"max_new_tokens": 8}}}
    label = stage_config("label", COUNTDOWN, overrides)
    search = stage_config("search", COUNTDOWN, overrides)
    assert (label.seed, label.n_mc, label.generation.max_new_tokens, label.generation.temperature) == (3, 4, 8, 1.0)
    assert (search.seed, search.generation.max_new_tokens) == (3, 32)


def test_a_bad_field_names_the_recipe_and_the_section(tmp_path: Path) -> None:
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(COUNTDOWN.read_text().replace("n_mc: 16", "n_mc: -1"))
    with pytest.raises(PavlabError, match=r"bad.yaml, field 'label.n_mc'"):
        stage_config("label", recipe)


@pytest.mark.parametrize(("args", "message"), [
    (["--stages", "label,bogus"], "stage 'bogus' is not in this recipe"),
    (["--label.n_mcc", "3"], "field 'label.n_mcc': unknown field"),
    (["--bogus", "3"], "field 'bogus': unknown field"),
])
def test_user_errors_are_one_line(run_cli, args: list[str], message: str) -> None:
    code, out, err = run_cli("recipe", "run", str(COUNTDOWN), *args)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err + out


def test_countdown_smoke_runs_every_stage_then_a_rerun_skips_them(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "smoke"
    code, stdout, err = run_cli("recipe", "run", str(COUNTDOWN), "--smoke", "--out", str(out), "--threads", "1")
    assert code == 0, err
    stages = ["testbed", "sample", "label", "train_verifier", "search", "rl"]
    done = [line for line in stdout.splitlines() if " done in " in line]
    assert [line.split(":")[0] for line in done] == stages
    assert (out / "policy" / "testbed.json").is_file() and (out / "samples.jsonl").is_file()
    assert (out / "verifier" / "verifier.json").is_file() and (out / "search" / "summary.json").is_file()
    assert (out / "rl" / "metrics.jsonl").is_file() and (out / "recipe_run.json").is_file()
    code, stdout, err = run_cli("recipe", "run", str(COUNTDOWN), "--smoke", "--out", str(out), "--stages",
                                "label,rl,search")
    assert code == 0, err
    assert [line.split(":")[0] for line in stdout.splitlines() if "finished earlier, skipped" in line] == \
        ["label", "search", "rl"]


def test_global_threads_option_sets_torch_threads(run_cli) -> None:
    import torch

    before = torch.get_num_threads()
    try:
        code, _, err = run_cli("--threads", "1", "tasks", "list")
        assert code == 0, err
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
