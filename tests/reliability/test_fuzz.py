"""Property-based fuzzing of every user-input parser: arbitrary input either parses into valid values or
raises PavlabError (a one-line message), never any other exception."""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pavlab.config import load_config, parse_overrides
from pavlab.errors import PavlabError
from pavlab.io import read_jsonl
from pavlab.labeling.format import read_label_rows as load_labels
from pavlab.labeling.run import LabelConfig
from pavlab.metrics import load_samples, summarize_samples
from pavlab.sampling import SampleConfig
from pavlab.tasks.jsonl_task import JsonlTask

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


def rows_like(template: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """Rows that keep, drop or replace each field of a valid template with an arbitrary JSON value."""
    return st.fixed_dictionaries({}, optional={key: st.just(value) | json_values for key, value in template.items()})


def _file(content: bytes) -> Path:
    handle = tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False)  # noqa: SIM115 - hypothesis reuses no fixture
    handle.write(content)
    handle.close()
    return Path(handle.name)


def _rejected_cleanly(fn: Any, path: Path) -> Any:
    try:
        return fn(path)
    except PavlabError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return None
    finally:
        path.unlink()


@SETTINGS
@given(st.binary(max_size=300))
def test_jsonl_reader_on_arbitrary_bytes(content: bytes) -> None:
    rows = _rejected_cleanly(read_jsonl, _file(content))
    assert rows is None or all(isinstance(row, dict) for row in rows)


@SETTINGS
@given(st.lists(rows_like({"problem_id": "p", "correct": True, "answer": "3", "generated_tokens": 2}),
                min_size=1, max_size=4))
def test_sample_files(rows: list[dict[str, Any]]) -> None:
    path = _file("".join(json.dumps(row) + "\n" for row in rows).encode())
    loaded = _rejected_cleanly(load_samples, path)
    if loaded is not None:
        summary = summarize_samples(loaded)
        assert all(0.0 <= v <= 1.0 for k, v in summary.items() if k.startswith(("pass@", "maj@")))


@SETTINGS
@given(st.lists(rows_like({"problem_id": "p", "prompt": "1 2", "steps": ["3"], "correct": False,
                           "q_hat": [0.5, 0.0], "n_success": [1, 0], "n_rollouts": [2, 2]}), min_size=1, max_size=3))
def test_label_files(rows: list[dict[str, Any]]) -> None:
    path = _file("".join(json.dumps(row) + "\n" for row in rows).encode())
    labels = _rejected_cleanly(lambda p: load_labels([p]), path)
    for label in labels or []:
        assert all(q is None or (math.isfinite(q) and 0.0 <= q <= 1.0) for q in label.q_hat)
        assert len(label.q_hat) == len(label.steps) + 1


@SETTINGS
@given(st.lists(rows_like({"question": "1+1", "answer": "2", "id": "a"}), min_size=1, max_size=3))
def test_user_jsonl_task(rows: list[dict[str, Any]]) -> None:
    path = _file("".join(json.dumps(row) + "\n" for row in rows).encode())
    problems = _rejected_cleanly(lambda p: JsonlTask(p, id_field="id", grader="exact").problems("test"), path)
    assert problems is None or len({p.id for p in problems}) == len(problems)


@SETTINGS
@given(st.lists(st.text(max_size=12), max_size=6))
def test_command_line_overrides(args: list[str]) -> None:
    try:
        load_config(SampleConfig, overrides=args)
    except PavlabError as exc:
        assert "\n" not in str(exc)


@SETTINGS
@given(rows_like({"policy": "mu:5", "out": "x", "n": 4, "seed": 1, "problems": 8,
                  "generation": {"max_new_tokens": 8}, "task": {"name": "planted"}}))
def test_recipes(data: dict[str, Any]) -> None:
    for cls in (SampleConfig, LabelConfig):
        try:
            config = load_config(cls, overrides=data)
        except PavlabError as exc:
            assert "\n" not in str(exc)
            continue
        assert config.problems is None or config.problems > 0


def test_override_parser_keeps_values() -> None:
    assert parse_overrides(["--a.b", "3", "--flag", "--c=x"]) == {"a": {"b": 3}, "flag": True, "c": "x"}
