"""scripts/gpu_check.sh, checked without a GPU: it parses, its --dry-run plan names every stage and runs nothing,
bad arguments are refused, and its report turns the stages' outputs into `name: value` lines."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
SCRIPT = ROOT / "scripts" / "gpu_check.sh"
REPORT = ROOT / "scripts" / "gpu_check_report.py"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=60, cwd=ROOT)


def test_the_script_parses() -> None:
    assert subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True).returncode == 0


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path: Path) -> None:
    out = tmp_path / "check"
    done = run("--dry-run", "--out", str(out))
    assert done.returncode == 0, done.stderr
    plan = done.stdout
    stages = [line[3:].split()[0] for line in plan.splitlines() if line.startswith("== ")]
    assert stages == ["device", "install", "checkpoint", "recipe", "install_verl", "verl_data", "verl_train", "report"]
    assert "pip install -q -e '.[vllm,dev]'" in plan
    recipe = next(line for line in plan.splitlines() if "recipe run recipes/smollm2_gsm8k.yaml" in line)
    assert "--stages sample,label,train_verifier,search" in recipe and "--policy 'vllm:" in recipe
    for stage in ("sample", "label", "search"):
        assert f"--{stage}.problems 200" in recipe
    assert "--config-name verl_pav" in plan and "pav.verifier=" in plan
    assert (ROOT / "integrations" / "verl" / "verl_pav.yaml").is_file()
    assert not out.exists()  # the plan writes nothing


def test_options_shape_the_plan(tmp_path: Path) -> None:
    done = run("--dry-run", "--out", str(tmp_path), "--problems", "20", "--no-verl")
    assert done.returncode == 0, done.stderr
    assert "--sample.problems 20" in done.stdout and "verl" not in done.stdout.replace("no-verl", "")


def test_offline_hf_mode_uses_the_given_interpreter_and_no_install(tmp_path: Path) -> None:
    done = run("--dry-run", "--out", str(tmp_path), "--python", sys.executable, "--backend", "hf")
    assert done.returncode == 0, done.stderr
    plan = done.stdout
    assert "pip install" not in plan and "verl" not in plan  # no venv, no verl: it needs its own pinned venv
    recipe = next(line for line in plan.splitlines() if "recipe run recipes/smollm2_gsm8k.yaml" in line)
    assert f"{sys.executable} -m pavlab recipe run" in recipe
    assert "vllm:" not in recipe and "smollm2-135m-instruct?dtype=bfloat16" in recipe and "--device cuda" in recipe
    assert "scripts/gpu_check_report.py" in plan and "--backend hf" in plan


@pytest.mark.parametrize("args", [("--problems", "0"), ("--problems", "x"), ("--bogus",), ("--verl-steps", "-1"),
                                  ("--backend", "tgi"), ("--python", "no-such-python-here")])
def test_bad_arguments_are_refused(args: tuple[str, ...]) -> None:
    done = run("--dry-run", *args)
    assert done.returncode == 2 and "gpu_check:" in done.stderr and done.stdout == ""


def write_outputs(out: Path, *, verl: bool) -> None:
    recipe = out / "recipe"
    (recipe / "labels" / "labels").mkdir(parents=True)
    (recipe / "search").mkdir()
    (out / "logs").mkdir()
    stages = [{"name": name, "output": "x", "seconds": seconds, "skipped": False}
              for name, seconds in (("sample", 10.0), ("label", 20.0), ("train_verifier", 30.0), ("search", 40.0))]
    (recipe / "recipe_run.json").write_text(json.dumps({"stages": stages, "seconds": 100.0}))
    samples = [{"generated_tokens": 100, "correct": i == 0} for i in range(4)]
    (recipe / "samples.jsonl").write_text("".join(json.dumps(row) + "\n" for row in samples))
    labels = [{"q_hat": [0.5, 0.25, None, 1.0]}, {"q_hat": [1.0, 1.0]}]
    (recipe / "labels" / "labels" / "shard-00000.jsonl").write_text("".join(json.dumps(r) + "\n" for r in labels))
    (recipe / "search" / "summary.json").write_text(json.dumps({"problems": 4, "accuracy": 0.5}))
    if verl:
        (out / "logs" / "verl_train.log").write_text("step:1 - timing_s/step:4.0 - x\nstep:2 - timing_s/step:2.0\n")


def test_report_prints_the_figures(tmp_path: Path) -> None:
    write_outputs(tmp_path, verl=True)
    done = subprocess.run([sys.executable, str(REPORT), str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    figures = dict(line.split(": ", 1) for line in done.stdout.splitlines())
    assert figures["vllm_sample_tokens_per_s"] == "40.0"  # 400 tokens in 10 s
    assert figures["vllm_labeled_prefixes_per_s"] == "0.25"  # 5 labeled prefixes in 20 s
    assert figures["sample_accuracy"] == "0.25" and figures["search_accuracy"] == "0.5"
    assert figures["verl_steps"] == "2" and figures["verl_seconds_per_step"] == "3.0"
    assert (tmp_path / "metrics.txt").read_text() == done.stdout
    assert json.loads((tmp_path / "metrics.json").read_text())["labeled_prefixes"] == 5


def test_report_names_the_backend(tmp_path: Path) -> None:
    write_outputs(tmp_path, verl=False)
    done = subprocess.run([sys.executable, str(REPORT), str(tmp_path), "--backend", "hf"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "hf_sample_tokens_per_s: 40.0" in done.stdout and "vllm_" not in done.stdout


def test_report_fails_on_missing_outputs(tmp_path: Path) -> None:
    write_outputs(tmp_path, verl=False)
    (tmp_path / "recipe" / "search" / "summary.json").unlink()
    done = subprocess.run([sys.executable, str(REPORT), str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "summary.json" in done.stderr


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="a GPU machine would run the whole check")
def test_a_failed_stage_stops_the_check_loudly(tmp_path: Path) -> None:
    done = run("--out", str(tmp_path / "check"))  # no nvidia-smi here: the first stage fails
    assert done.returncode == 1
    assert "FAILED: stage device" in done.stderr and "install" not in done.stdout
    assert (tmp_path / "check" / "logs" / "device.log").is_file()
    assert (tmp_path / "check" / "stages.tsv").read_text().startswith("device\t")
