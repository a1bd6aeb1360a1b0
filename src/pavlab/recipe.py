"""Whole-chain recipes: every stage of a recipe, in order, each reading its own section.

Why a table of stages: a recipe (`recipes/*.yaml`) holds one section per stage plus shared top-level
fields, and the stages feed each other (labels -> verifier -> search and RL). Every stage is a job
`run_<job>(config) -> Path` whose config holds its inputs and `out`, so running a recipe is looking
each section's config and job up in `STAGES` and calling it: the same configs and resumable code
paths as the single commands, so a rerun skips finished stages and resumes an interrupted one.
`smoke` scales every stage down (4 problems, a few tokens, a few steps, CPU, in-process) and writes
under `out`, so a recipe meant for a GPU is checked end to end on a CPU before it is launched.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pavlab.config import Config, deep_merge, load_config, parse_overrides, read_recipe, recipe_section
from pavlab.errors import PavlabError
from pavlab.io import read_json, write_json
from pavlab.labeling.format import label_shards
from pavlab.labeling.run import LabelConfig, run_labeling
from pavlab.policies.testbed import TESTBED_FILE, TestbedConfig, run_testbed
from pavlab.rl.config import RLConfig
from pavlab.rl.trainer import run_rl
from pavlab.runs import prepare_run
from pavlab.sampling import SampleConfig, run_sampling
from pavlab.search.run import SUMMARY_FILE, SearchConfig, run_search
from pavlab.tasks.registry import get_task
from pavlab.verifiers.train import TrainVerifierJobConfig, run_train_verifier

SMOKE_PROBLEMS = 4
SMOKE_TOKENS = 32


@dataclass(frozen=True)
class Stage:
    """One stage: its config, its job, where `--out` puts its output, and how `--smoke` shrinks it."""

    config: type[Config]
    run: Callable[[Any], Path]  # the job: `run_<job>(config) -> Path`
    out_name: str
    done_file: str | None = None  # the file the job writes last (None: `out` itself, or per-chunk shards)
    inherits: dict[str, str] = field(default_factory=dict)  # config field <- top-level recipe field
    smoke_caps: dict[str, int] = field(default_factory=dict)  # capped at these (a smaller value stays)
    smoke_set: dict[str, Any] = field(default_factory=dict)  # and set to these: CPU-only, in-process


# In pipeline order. The testbed's output is the recipe's top-level `policy`, which later stages read.
STAGES: dict[str, Stage] = {
    "testbed": Stage(TestbedConfig, run_testbed, "policy", inherits={"out": "policy"}, smoke_caps={
        "steps": 40, "batch_size": 16, "n_traces": 512, "n_train_problems": 256, "drill_batch_size": 16,
        "warmup_steps": 4}),
    "sample": Stage(SampleConfig, run_sampling, "samples.jsonl", smoke_caps={
        "problems": SMOKE_PROBLEMS, "n": 2, "chunk_problems": SMOKE_PROBLEMS,
        "generation.max_new_tokens": SMOKE_TOKENS}, smoke_set={"workers": 0, "device": "cpu"}),
    "label": Stage(LabelConfig, run_labeling, "labels", smoke_caps={
        "problems": SMOKE_PROBLEMS, "n_cov": 1, "n_mc": 2, "pit_seeds": 1, "chunk_problems": SMOKE_PROBLEMS,
        "generation.max_new_tokens": SMOKE_TOKENS}, smoke_set={"workers": 0, "device": "cpu"}),
    "train_verifier": Stage(TrainVerifierJobConfig, run_train_verifier, "verifier", "train_config.json", smoke_caps={
        "steps": 2, "batch_size": 4, "warmup": 1, "checkpoint_every": 2, "max_length": 512},
        smoke_set={"device": "cpu"}),
    "search": Stage(SearchConfig, run_search, "search", SUMMARY_FILE, smoke_caps={
        "problems": SMOKE_PROBLEMS, "n": 2, "candidates": 2, "max_depth": 2, "chunk_problems": SMOKE_PROBLEMS,
        "generation.max_new_tokens": SMOKE_TOKENS}, smoke_set={"device": "cpu"}),
    "rl": Stage(RLConfig, run_rl, "rl", "rl_summary.json", smoke_caps={
        "iterations": 2, "problems_per_iteration": 2, "group_size": 2, "micro_batch_size": 4,
        "train_problems": 2 * SMOKE_PROBLEMS, "eval_problems": 2, "eval_every": 2, "checkpoint_every": 2,
        "max_new_tokens": SMOKE_TOKENS, "rft_steps": 2, "rft_problems": 2 * SMOKE_PROBLEMS, "rft_samples": 4,
        "rft_batch_size": 2}, smoke_set={"device": "cpu"}),
}
POLICY_FIELDS = ("policy", "rollout_policy")


@dataclass(frozen=True)
class StageResult:
    name: str
    output: Path
    seconds: float
    skipped: bool


# -- the recipe after --out / --smoke -----------------------------------------------------------------


def stages_in(recipe: dict[str, Any]) -> list[str]:
    """The recipe's stage sections, in pipeline order."""
    return [name for name in STAGES if isinstance(recipe.get(name), dict)]


def stage_output(recipe: dict[str, Any], name: str) -> str | None:
    """Where stage `name` writes: its section's `out`, else the top-level field its `out` inherits."""
    section = recipe.get(name) or {}
    inherited = STAGES[name].inherits.get("out")
    return section.get("out", recipe.get(inherited) if inherited else None)


def _replace_paths(value: Any, moves: dict[str, str]) -> Any:
    """`value` with every string that is (or lies under, or is `model:` of) a moved path rewritten."""
    if isinstance(value, dict):
        return {key: _replace_paths(item, moves) for key, item in value.items()}
    if isinstance(value, list):
        return [_replace_paths(item, moves) for item in value]
    if not isinstance(value, str):
        return value
    prefix, _, rest = value.partition(":") if value.startswith("model:") else ("", "", value)
    path = str(Path(rest)) if rest else rest
    for old, new in moves.items():
        if path == old or path.startswith(old + "/"):
            moved = new + path[len(old):]
            return f"{prefix}:{moved}" if prefix else moved
    return value


def relocate(recipe: dict[str, Any], out: Path) -> dict[str, Any]:
    """Every stage output moved under `out` (its `out_name`), and every reference to it rewritten to match."""
    moves = {}
    for name in stages_in(recipe):
        old = stage_output(recipe, name)
        if old is None:
            continue
        moves[str(Path(old)).rstrip("/")] = str(out / STAGES[name].out_name)
    return _replace_paths(recipe, moves)


def _local_policy(spec: Any) -> Any:
    """`vllm:PATH?options` -> PATH: a smoke run reads the same weights with the HF backend on CPU."""
    if isinstance(spec, str) and spec.startswith("vllm:"):
        return spec[len("vllm:"):].partition("?")[0]
    return spec


def _set_dotted(section: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        section = section.setdefault(key, {})
    section[leaf] = value


def _get_dotted(data: dict[str, Any], dotted: str) -> Any:
    for key in dotted.split("."):
        data = data[key]
    return data


def smoke_scale(recipe: dict[str, Any], origin: Path | str) -> dict[str, Any]:
    """The recipe shrunk for a smoke run: each stage's `smoke_caps` and `smoke_set` applied, local HF policies.

    Caps are taken against each stage's resolved config (its section, the shared fields and the
    defaults), so a field a recipe leaves at a large default is capped too.
    """
    scaled = copy.deepcopy(recipe)
    for key in POLICY_FIELDS:
        if key in scaled:
            scaled[key] = _local_policy(scaled[key])
    for name in stages_in(recipe):
        section = scaled[name]
        for key in POLICY_FIELDS:
            if key in section:
                section[key] = _local_policy(section[key])
        resolved = resolve_section(name, scaled, Path(origin)).model_dump()
        for dotted, cap in STAGES[name].smoke_caps.items():
            current = _get_dotted(resolved, dotted)
            if current is None or current > cap:
                _set_dotted(section, dotted, cap)
        for dotted, value in STAGES[name].smoke_set.items():
            _set_dotted(section, dotted, value)
    return scaled


# -- configs ----------------------------------------------------------------------------------------


def stage_config(name: str, origin: Path, overrides: dict[str, Any] | None = None) -> Config:
    """Stage `name`'s typed config: its section + the shared fields of the recipe file `origin`, then overrides."""
    try:
        return load_config(STAGES[name].config, None,
                           deep_merge(section_data(name, read_recipe(origin)), stage_overrides(name, overrides or {})))
    except PavlabError as exc:
        raise _in_section(exc, name, origin) from None


def resolve_section(name: str, recipe: dict[str, Any], origin: Path) -> Config:
    """Like `stage_config`, for a recipe held in memory (`origin` is the file it came from, for errors)."""
    try:
        return load_config(STAGES[name].config, None, section_data(name, recipe))
    except PavlabError as exc:
        raise _in_section(exc, name, origin) from None


def section_data(name: str, recipe: dict[str, Any]) -> dict[str, Any]:
    """Stage `name`'s section with the shared top-level fields its config has, and the fields it inherits."""
    data = recipe_section(recipe, STAGES[name].config, name)
    for key, top_level in STAGES[name].inherits.items():
        if top_level in recipe:
            data.setdefault(key, recipe[top_level])
    return data


def _in_section(exc: PavlabError, name: str, origin: Path) -> PavlabError:
    """The same one-line error, naming the recipe file and the field as SECTION.field."""
    message = str(exc).split(": ", 1)[1] if exc.path is not None or exc.field is not None else str(exc)
    path = origin if exc.path in (None, "command line") else exc.path
    return PavlabError(message, path=path, field=f"{name}.{exc.field}" if exc.field else name)


def stage_overrides(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """Command-line overrides for one stage: shared ones (`--seed 1`) that are its fields, then `--NAME.field`."""
    fields = STAGES[name].config.model_fields
    shared = {key: value for key, value in overrides.items() if key not in STAGES and key in fields}
    section = overrides.get(name) or {}
    if not isinstance(section, dict):
        raise PavlabError(f"expected --{name}.FIELD VALUE", path="command line", field=name)
    return deep_merge(shared, section)


def check_overrides(overrides: dict[str, Any], names: list[str]) -> None:
    """Every top-level override must be a stage or a field of some stage that runs."""
    for key in overrides:
        if key in STAGES:
            if key not in names:
                raise PavlabError(f"stage '{key}' does not run (stages: {', '.join(names)})", path="command line",
                                  field=key)
        elif not any(key in STAGES[name].config.model_fields for name in names):
            raise PavlabError("unknown field (not a field of any stage that runs)", path="command line", field=key)


# -- running ----------------------------------------------------------------------------------------


def _labels_complete(config: LabelConfig) -> bool:
    """Labeling has no final file: it is done when every chunk's shard is there."""
    problems = len(get_task(config.task).problems(config.split, config.problems, seed=config.seed))
    chunks = -(-problems // config.chunk_problems)
    return set(range(chunks)) <= label_shards(config.out).finished()


def _comparable(dump: dict[str, Any]) -> Any:
    return json.loads(json.dumps(dump, default=str, sort_keys=True))


def already_finished(name: str, config: Any) -> bool:
    """True when stage `name` finished earlier with this config (a changed config raises, as the command would)."""
    out, done_file = Path(config.out), STAGES[name].done_file
    if name == "testbed":
        return _testbed_finished(config)
    if name == "label" and not _labels_complete(config):
        return False
    if name != "label" and not (out / done_file if done_file else out).is_file():
        return False
    if name == "train_verifier":
        record = read_json(out / done_file).get("config")
        return _comparable(record) == _comparable(config.training().model_dump())
    run_dir = Path(str(out) + ".parts") if name == "sample" else out
    prepare_run(run_dir, config, kind=name)  # raises on a changed config, exactly as the command would
    return True


def _testbed_finished(config: TestbedConfig) -> bool:
    """A testbed policy is there, trained with this config (another config is an error, not a retrain)."""
    record_file = Path(config.out) / TESTBED_FILE
    if not record_file.is_file():
        return False
    ignore = {"threads", "progress"}
    old = {k: v for k, v in _comparable(read_json(record_file).get("config", {})).items() if k not in ignore}
    new = {k: v for k, v in _comparable(config.recorded()).items() if k not in ignore}
    if old != new:
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        raise PavlabError(f"the testbed policy there was trained with another config ({', '.join(changed)}); "
                          "use another --out or delete it", path=record_file.parent)
    return True


def run_stage(name: str, config: Any) -> Path:
    """Run one stage: its job, with the same code path as its command; returns where it wrote (`config.out`)."""
    STAGES[name].run(config)
    return Path(config.out)


def prepare_recipe(recipe_path: Path, out: Path | None = None, smoke: bool = False) -> tuple[dict[str, Any], Path]:
    """The recipe to run and the file it lives in: the original, or (with --out / --smoke) OUT/recipe.yaml."""
    recipe = read_recipe(recipe_path)
    if smoke and out is None:
        out = Path("runs") / "smoke" / Path(recipe_path).stem
    if out is None:
        return recipe, Path(recipe_path)
    if not stages_in(recipe):
        raise PavlabError(f"no stage sections ({', '.join(STAGES)})", path=recipe_path)
    effective = relocate(recipe, Path(out))
    if smoke:
        effective = smoke_scale(effective, recipe_path)
    written = Path(out) / "recipe.yaml"
    written.parent.mkdir(parents=True, exist_ok=True)
    header = f"# {'smoke run' if smoke else 'run'} of {recipe_path}, written by `pavlab recipe run`\n"
    written.write_text(header + yaml.safe_dump(effective, sort_keys=False), encoding="utf-8")
    return effective, written


def run_recipe(recipe_path: str | Path, stages: list[str] | None = None, *, smoke: bool = False,
               out: str | Path | None = None, overrides: list[str] | dict[str, Any] | None = None,
               threads: int | None = None, echo: Callable[[str], None] = print) -> list[StageResult]:
    """Run the recipe's stages (all, or `stages`) in pipeline order; one `echo` line per stage with its time."""
    recipe_path = Path(recipe_path)
    recipe, origin = prepare_recipe(recipe_path, Path(out) if out is not None else None, smoke)
    present = stages_in(recipe)
    if not present:
        raise PavlabError(f"no stage sections ({', '.join(STAGES)})", path=recipe_path)
    names = present
    if stages is not None:
        unknown = [name for name in stages if name not in present]
        if unknown:
            raise PavlabError(f"stage '{unknown[0]}' is not in this recipe (it has: {', '.join(present)})",
                              path=recipe_path, field="stages")
        names = [name for name in present if name in stages]
    extra = parse_overrides(overrides) if isinstance(overrides, list) else dict(overrides or {})
    check_overrides(extra, names)
    if threads is not None and "testbed" in names:  # the testbed trainer sets its own thread count (default 2)
        extra.setdefault("testbed", {}).setdefault("threads", min(threads, 2))
    # Every config is validated before the first stage starts: a typo in `rl` fails now, not after labeling.
    configs = {name: stage_config(name, origin, extra) for name in names}
    if "testbed" in names and configs["testbed"].out is None:
        raise PavlabError("a testbed section needs the top-level `policy`: where the testbed is saved",
                          path=origin, field="policy")
    results = []
    started = time.perf_counter()
    for name in names:
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        stage_started = time.perf_counter()
        if already_finished(name, configs[name]):
            output = Path(configs[name].out)
            results.append(StageResult(name, output, 0.0, skipped=True))
            echo(f"{name}: finished earlier, skipped ({output})")
            continue
        try:
            output = run_stage(name, configs[name])
        except PavlabError as exc:  # still one line, now saying which stage stopped
            seconds = time.perf_counter() - stage_started
            raise PavlabError(f"stage {name} stopped after {seconds:.1f} s: {exc}") from None
        seconds = time.perf_counter() - stage_started
        results.append(StageResult(name, Path(output), seconds, skipped=False))
        echo(f"{name}: done in {seconds:.1f} s ({output})")
    total = time.perf_counter() - started
    if out is not None or smoke:
        write_json(origin.parent / "recipe_run.json",
                   {"recipe": str(recipe_path), "smoke": smoke, "stages": [
                       {"name": r.name, "output": str(r.output), "seconds": round(r.seconds, 1), "skipped": r.skipped}
                       for r in results], "seconds": round(total, 1)})
    echo(f"recipe {recipe_path.name}: {len(results)} stages in {total:.1f} s")
    return results
