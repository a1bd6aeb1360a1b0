"""`pavlab recipe run`: every stage of a whole-chain recipe, in order, each reading its own section.

Why one command: a recipe (`recipes/*.yaml`) holds one section per stage plus shared top-level
fields, and the stages feed each other (labels -> verifier -> search and RL). Running them by
hand means six commands in the right order; this runs them with the same configs and the same
resumable code paths as the single commands, so a rerun skips finished stages and resumes an
interrupted one. `--smoke` scales every stage down (4 problems, a few tokens, a few steps, CPU,
in-process) and writes under `--out`, so a recipe meant for a GPU is checked end to end on a
CPU before it is launched for real.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.console import Console

from pavlab.cli import app
from pavlab.cli.common import OVERRIDE_SETTINGS
from pavlab.cli.verifiers import TrainVerifierCommandConfig
from pavlab.config import Config, load_config, parse_overrides, read_recipe, recipe_section
from pavlab.errors import PavlabError
from pavlab.io import read_json, write_json
from pavlab.labeling.run import LabelConfig
from pavlab.policies.testbed import TestbedConfig
from pavlab.rl.config import RLConfig
from pavlab.runs import prepare_run
from pavlab.sampling import SampleConfig
from pavlab.search.run import SearchConfig

console = Console()
recipe_app = typer.Typer(no_args_is_help=True, help="Whole-chain recipes: run every stage in order, or a smoke run.")
app.add_typer(recipe_app, name="recipe")

STAGES: dict[str, type[Config]] = {"testbed": TestbedConfig, "sample": SampleConfig, "label": LabelConfig,
                                   "train_verifier": TrainVerifierCommandConfig, "search": SearchConfig,
                                   "rl": RLConfig}
# Where `--out` puts each stage's output (the testbed's output is the recipe's top-level `policy`).
OUT_NAMES = {"testbed": "policy", "sample": "samples.jsonl", "label": "labels", "train_verifier": "verifier",
             "search": "search", "rl": "rl"}
SMOKE_PROBLEMS = 4
SMOKE_TOKENS = 32
# --smoke caps these fields at these values (a smaller value in the recipe stays).
SMOKE_CAPS: dict[str, dict[str, int]] = {
    "testbed": {"steps": 40, "batch_size": 16, "n_traces": 512, "n_train_problems": 256, "drill_batch_size": 16,
                "warmup_steps": 4},
    "sample": {"problems": SMOKE_PROBLEMS, "n": 2, "chunk_problems": SMOKE_PROBLEMS,
               "generation.max_new_tokens": SMOKE_TOKENS},
    "label": {"problems": SMOKE_PROBLEMS, "n_cov": 1, "n_mc": 2, "pit_seeds": 1, "chunk_problems": SMOKE_PROBLEMS,
              "generation.max_new_tokens": SMOKE_TOKENS},
    "train_verifier": {"steps": 2, "batch_size": 4, "warmup": 1, "checkpoint_every": 2, "max_length": 512},
    "search": {"problems": SMOKE_PROBLEMS, "n": 2, "candidates": 2, "max_depth": 2, "chunk_problems": SMOKE_PROBLEMS,
               "generation.max_new_tokens": SMOKE_TOKENS},
    "rl": {"iterations": 2, "problems_per_iteration": 2, "group_size": 2, "micro_batch_size": 4,
           "train_problems": 2 * SMOKE_PROBLEMS, "eval_problems": 2, "eval_every": 2, "checkpoint_every": 2,
           "max_new_tokens": SMOKE_TOKENS, "rft_steps": 2, "rft_problems": 2 * SMOKE_PROBLEMS, "rft_samples": 4,
           "rft_batch_size": 2},
}
# ...and set these: a smoke run is CPU-only and in-process.
SMOKE_SET: dict[str, dict[str, Any]] = {"sample": {"workers": 0, "device": "cpu"},
                                        "label": {"workers": 0, "device": "cpu"},
                                        "train_verifier": {"device": "cpu"}, "search": {"device": "cpu"},
                                        "rl": {"device": "cpu"}}
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
    """Where stage `name` writes: its section's `out`, or the top-level `policy` for the testbed."""
    if name == "testbed":
        return recipe.get("policy")
    section = recipe.get(name) or {}
    return section.get("out")


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
    """Every stage output moved under `out` (OUT_NAMES), and every reference to it rewritten to match."""
    moves = {}
    for name in stages_in(recipe):
        old = stage_output(recipe, name)
        if old is None:
            continue
        moves[str(Path(old)).rstrip("/")] = str(out / OUT_NAMES[name])
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
    """The recipe shrunk for a smoke run: SMOKE_CAPS and SMOKE_SET applied to every stage, local HF policies.

    Caps are taken against each stage's resolved config (its section, the shared fields and the
    defaults), so a field a recipe leaves at a large default is capped too.
    """
    scaled = copy.deepcopy(recipe)
    for field in POLICY_FIELDS:
        if field in scaled:
            scaled[field] = _local_policy(scaled[field])
    for name in stages_in(recipe):
        section = scaled[name]
        for field in POLICY_FIELDS:
            if field in section:
                section[field] = _local_policy(section[field])
        resolved = resolve_section(name, scaled, Path(origin)).model_dump()
        for dotted, cap in SMOKE_CAPS.get(name, {}).items():
            current = _get_dotted(resolved, dotted)
            if current is None or current > cap:
                _set_dotted(section, dotted, cap)
        for field, value in SMOKE_SET.get(name, {}).items():
            _set_dotted(section, field, value)
    return scaled


# -- configs ----------------------------------------------------------------------------------------


def stage_config(name: str, origin: Path, overrides: dict[str, Any] | None = None) -> Config:
    """Stage `name`'s typed config: its section + the shared fields of the recipe file `origin`, then overrides."""
    try:
        return load_config(STAGES[name], origin, stage_overrides(name, overrides or {}), section=name)
    except PavlabError as exc:
        raise _in_section(exc, name, origin) from None


def resolve_section(name: str, recipe: dict[str, Any], origin: Path) -> Config:
    """Like `stage_config`, for a recipe held in memory (`origin` is the file it came from, for errors)."""
    try:
        return load_config(STAGES[name], None, recipe_section(recipe, STAGES[name], name))
    except PavlabError as exc:
        raise _in_section(exc, name, origin) from None


def _in_section(exc: PavlabError, name: str, origin: Path) -> PavlabError:
    """The same one-line error, naming the recipe file and the field as SECTION.field."""
    message = str(exc).split(": ", 1)[1] if exc.path is not None or exc.field is not None else str(exc)
    path = origin if exc.path in (None, "command line") else exc.path
    return PavlabError(message, path=path, field=f"{name}.{exc.field}" if exc.field else name)


def stage_overrides(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """Command-line overrides for one stage: shared ones (`--seed 1`) that are its fields, then `--NAME.field`."""
    fields = STAGES[name].model_fields
    shared = {key: value for key, value in overrides.items() if key not in STAGES and key in fields}
    section = overrides.get(name) or {}
    if not isinstance(section, dict):
        raise PavlabError(f"expected --{name}.FIELD VALUE", path="command line", field=name)
    return _merge(shared, section)


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        both = isinstance(value, dict) and isinstance(merged.get(key), dict)
        merged[key] = _merge(merged[key], value) if both else value
    return merged


def check_overrides(overrides: dict[str, Any], names: list[str]) -> None:
    """Every top-level override must be a stage or a field of some stage that runs."""
    for key in overrides:
        if key in STAGES:
            if key not in names:
                raise PavlabError(f"stage '{key}' does not run (stages: {', '.join(names)})", path="command line",
                                  field=key)
        elif not any(key in STAGES[name].model_fields for name in names):
            raise PavlabError("unknown field (not a field of any stage that runs)", path="command line", field=key)


# -- running ----------------------------------------------------------------------------------------


def _finished_marker(name: str, config: Any) -> Path:
    """The file a stage writes last, once all its work is done."""
    out = Path(config.out)
    return {"sample": out, "train_verifier": out / "train_config.json", "search": out / "summary.json",
            "rl": out / "rl_summary.json"}.get(name, out)


def _labels_complete(config: LabelConfig) -> bool:
    """Labeling has no final file: it is done when every chunk's shard is there."""
    from pavlab.labeling.format import label_shards
    from pavlab.tasks.registry import get_task

    problems = len(get_task(config.task).problems(config.split, config.problems, seed=config.seed))
    chunks = -(-problems // config.chunk_problems)
    return set(range(chunks)) <= label_shards(config.out).finished()


def _comparable(dump: dict[str, Any]) -> Any:
    return json.loads(json.dumps(dump, default=str, sort_keys=True))


def already_finished(name: str, config: Any, recipe: dict[str, Any]) -> bool:
    """True when stage `name` finished earlier with this config (a changed config raises, as the command would)."""
    if name == "testbed":
        record_file = Path(recipe["policy"]) / "testbed.json"
        if not record_file.is_file():
            return False
        ignore = {"threads", "progress"}
        old = {k: v for k, v in _comparable(read_json(record_file).get("config", {})).items() if k not in ignore}
        new = {k: v for k, v in _comparable(config.model_dump()).items() if k not in ignore}
        if old != new:
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            raise PavlabError(f"the testbed policy there was trained with another config ({', '.join(changed)}); "
                              "use another --out or delete it", path=record_file.parent)
        return True
    if name == "label" and not _labels_complete(config):
        return False
    if name != "label" and not _finished_marker(name, config).is_file():
        return False
    if name == "train_verifier":
        record = read_json(_finished_marker(name, config)).get("config")
        return _comparable(record) == _comparable(verifier_train_config(config).model_dump())
    run_dir = Path(str(config.out) + ".parts") if name == "sample" else config.out
    prepare_run(run_dir, config, kind=name)  # raises on a changed config, exactly as the command would
    return True


def verifier_train_config(config: TrainVerifierCommandConfig) -> Any:
    """The training part of a train_verifier section, with a policy spec (`init: smollm2`) resolved to its
    checkpoint folder: the verifier trainer reads `init` and `tokenizer` as folders."""
    from pavlab.policies.loading import SMOLLM2_SPEC, resolve_checkpoint
    from pavlab.verifiers.train import VerifierTrainConfig

    train = config.model_dump(exclude={"labels", "out"})
    for field in ("init", "tokenizer"):
        if train[field] == SMOLLM2_SPEC:
            train[field] = str(resolve_checkpoint(SMOLLM2_SPEC))
    return VerifierTrainConfig.model_validate(train)


def run_stage(name: str, config: Any, recipe: dict[str, Any]) -> Path:
    """Run one stage with the same code path as its command; returns where it wrote."""
    if name == "testbed":
        from pavlab.policies.testbed import train_testbed

        task = recipe.get("task", "countdown")
        return train_testbed(task["name"] if isinstance(task, dict) else str(task), Path(recipe["policy"]), config)
    if name == "sample":
        from pavlab.sampling import run_sampling

        return run_sampling(config)
    if name == "label":
        from pavlab.labeling.run import run_labeling

        return run_labeling(config)
    if name == "train_verifier":
        from pavlab.labeling.format import resolve_label_paths
        from pavlab.verifiers.train import train_verifier

        return train_verifier(verifier_train_config(config), resolve_label_paths(config.labels), config.out)
    if name == "search":
        from pavlab.search.run import run_search

        run_search(config)
        return Path(config.out)
    from pavlab.rl.trainer import run_rl

    return run_rl(config)


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
    if "testbed" in names and not recipe.get("policy"):
        raise PavlabError("a testbed section needs the top-level `policy`: where the testbed is saved",
                          path=origin, field="policy")
    results = []
    started = time.perf_counter()
    for name in names:
        if threads is not None:
            import torch

            torch.set_num_threads(threads)
        stage_started = time.perf_counter()
        if already_finished(name, configs[name], recipe):
            output = Path(recipe["policy"]) if name == "testbed" else Path(configs[name].out)
            results.append(StageResult(name, output, 0.0, skipped=True))
            echo(f"{name}: finished earlier, skipped ({output})")
            continue
        try:
            output = run_stage(name, configs[name], recipe)
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


@recipe_app.command("run", context_settings=OVERRIDE_SETTINGS)
def run_command(ctx: typer.Context,
                recipe: Path = typer.Argument(..., help="recipe YAML (see recipes/)"),
                stages: str | None = typer.Option(None, help="comma-separated subset, e.g. label,train_verifier "
                                                               "(default: every section, in pipeline order)"),
                smoke: bool = typer.Option(False, help="4 problems, a few tokens and steps, CPU, in-process: "
                                                       "checks the whole chain in minutes"),
                out: Path | None = typer.Option(None, help="write every stage under this folder (default: the "
                                                           "recipe's paths; with --smoke: runs/smoke/RECIPE)"),
                threads: int | None = typer.Option(None, min=1, help="torch CPU threads for every stage")) -> None:
    """Run a recipe's stages in order (testbed, sample, label, train_verifier, search, rl); finished ones skip.

    Extra --field value overrides apply to every stage that has the field (--seed 1), and
    --SECTION.field value to one stage (--label.n_mc 8). Rerun the same command to resume.
    """
    names = None if stages is None else [part.strip() for part in stages.split(",") if part.strip()]
    run_recipe(recipe, names, smoke=smoke, out=out, overrides=ctx.args, threads=threads,
               echo=lambda line: console.print(line, highlight=False, markup=False, soft_wrap=True))
