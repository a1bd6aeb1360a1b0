"""Typed configs: pydantic models loaded from a YAML recipe, then overridden from the command line.

Every command takes `--config recipe.yaml` plus `--field value` (or `--section.field=value`)
for any field of its config, so a recipe is a starting point and nothing is hidden from the CLI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, ClassVar, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from pavlab.errors import PavlabError

C = TypeVar("C", bound="Config")


class Config(BaseModel):
    """Base for every config: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class PresetConfig(Config):
    """A config with a small preset: `quick: true` fills every field left unset from the class's `QUICK`.

    Why one mechanism: each study and the demo has a full run (the field defaults, what RESULTS.md
    reports) and a small one for demos and smoke checks. The small one sits next to the fields it
    changes, a field given explicitly always wins, and nested fields merge (`--quick --evals.x 8`
    keeps the rest of the quick `evals`).
    """

    QUICK: ClassVar[dict[str, Any]] = {}

    quick: bool = Field(False, description="the small preset (QUICK): same steps, small budgets")

    @model_validator(mode="before")
    @classmethod
    def _quick_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("quick") in (True, "true"):
            return deep_merge(cls.QUICK, data)
        return data


def comma_list(value: Any) -> Any:
    """'0,1,2' or a single number -> a list (the studies' list flags, `--seeds 0,1,2`); a list stays a list."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [value] if isinstance(value, int | float) else value


IntList = Annotated[list[int], BeforeValidator(comma_list)]
FloatList = Annotated[list[float], BeforeValidator(comma_list)]


def parse_overrides(args: list[str]) -> dict[str, Any]:
    """Turn ['--a.b', '3', '--flag', '--c=x'] into {'a': {'b': '3'}, 'flag': 'true', 'c': 'x'}."""
    result: dict[str, Any] = {}
    index = 0
    while index < len(args):
        arg = args[index]
        if not arg.startswith("--") or len(arg) == 2:
            raise PavlabError(f"unexpected argument '{arg}' (overrides look like --field value)")
        key, eq, value = arg[2:].partition("=")
        if not eq:
            nxt = args[index + 1] if index + 1 < len(args) else None
            if nxt is None or nxt.startswith("--"):
                value = "true"
            else:
                value = nxt
                index += 1
        index += 1
        node = result
        parts = key.replace("-", "_").split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part, {}), dict):  # `--task countdown --task.max_number 10`
                node[part] = {"name": node[part]}
            node = node.setdefault(part, {})
        try:
            node[parts[-1]] = yaml.safe_load(value) if value != "" else ""
        except (yaml.YAMLError, ValueError) as exc:
            raise PavlabError(f"unreadable value {value[:40]!r} ({type(exc).__name__})", path="command line",
                              field=key) from None
    return result


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """`base` with `update` merged in, nested mappings merged key by key (`update` wins)."""
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def with_nested_defaults(cls: type[Config], data: dict[str, Any]) -> dict[str, Any]:
    """`data` with each partly given nested config laid over the parent's default instance, not the nested class.

    Why: `study rl-countdown --task.min_take 6` must keep the study's subset-sum task; validating
    `{"min_take": 6}` alone would build TaskConfig's own default task (countdown). Only the fields
    the default instance set explicitly are laid under: the study's `TaskConfig(name="subset_sum")`
    lays only its name, so `--task.name countdown` builds a plain countdown task.
    """
    merged = dict(data)
    for name, info in cls.model_fields.items():
        value, default = merged.get(name), info.default
        if isinstance(value, dict) and isinstance(default, Config):
            merged[name] = deep_merge(default.model_dump(exclude_unset=True),
                                      with_nested_defaults(type(default), value))
    return merged


def read_recipe(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise PavlabError("config file not found", path=path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise PavlabError(f"invalid YAML ({getattr(exc, 'problem', exc)})", path=path,
                          line=mark.line + 1 if mark else None) from None
    except UnicodeDecodeError:
        raise PavlabError("not UTF-8 text", path=path) from None
    except ValueError as exc:  # e.g. an integer with more digits than Python will parse
        raise PavlabError(f"unreadable value ({str(exc)[:80]})", path=path) from None
    if not isinstance(data, dict):
        raise PavlabError("a recipe must be a mapping of field: value", path=path)
    return data


def recipe_section(recipe: dict[str, Any], cls: type[Config], section: str | None) -> dict[str, Any]:
    """A whole-chain recipe has one mapping per stage (`label:`, `search:` ...) plus shared top-level
    fields (`task:`, `policy:`, `seed:`) that every stage whose config has that field inherits."""
    if section is None or section not in recipe:
        return recipe if section is None or not _looks_sectioned(recipe, cls) else _shared(recipe, cls)
    stage = recipe[section] or {}
    if not isinstance(stage, dict):
        raise PavlabError(f"recipe section '{section}' must be a mapping")
    return deep_merge(_shared(recipe, cls), stage)


def _shared(recipe: dict[str, Any], cls: type[Config]) -> dict[str, Any]:
    return {key: value for key, value in recipe.items() if key in cls.model_fields}


def _looks_sectioned(recipe: dict[str, Any], cls: type[Config]) -> bool:
    return any(isinstance(v, dict) and k not in cls.model_fields for k, v in recipe.items())


def load_config(cls: type[C], path: str | Path | None = None, overrides: list[str] | dict[str, Any] | None = None,
                section: str | None = None) -> C:
    """Build `cls` from an optional YAML recipe (or one `section` of it) and CLI overrides."""
    data: dict[str, Any] = {}
    if path is not None:
        data = recipe_section(read_recipe(path), cls, section)
    extra = parse_overrides(overrides) if isinstance(overrides, list) else (overrides or {})
    data = with_nested_defaults(cls, deep_merge(data, extra))
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        origin = path if path is not None else "command line"
        msg = err["msg"] if err["type"] != "extra_forbidden" else "unknown field"
        raise PavlabError(f"{msg} (got {err.get('input')!r})"[:300], path=origin, field=field) from None


def describe_fields(cls: type[Config], prefix: str = "", defaults: Config | None = None) -> list[str]:
    """One line per (nested) field with its type and default, for `--help` epilogs.

    A nested field's defaults are read off the parent's default instance (`defaults`), not the nested
    class: a study whose `task` defaults to subset sum must not print the TaskConfig class's countdown.
    """
    lines = []
    for name, info in cls.model_fields.items():
        annotation = info.annotation
        value = getattr(defaults, name) if defaults is not None else info.default
        if isinstance(annotation, type) and issubclass(annotation, Config):
            lines.extend(describe_fields(annotation, prefix=f"{prefix}{name}.",
                                         defaults=value if isinstance(value, Config) else None))
            continue
        default = "required" if info.is_required() and defaults is None else repr(value)
        text = f"--{prefix}{name} ({getattr(annotation, '__name__', str(annotation))}, {default})"
        if info.description:
            text += f": {info.description}"
        lines.append(text)
    return lines
