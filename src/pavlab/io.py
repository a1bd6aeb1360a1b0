"""Crash-safe file output and strict JSONL input.

Every file pavlab writes goes through a temp file + rename, so a killed job never leaves a
half-written file behind; every JSONL line it reads is parsed strictly, and a bad line is
reported with its file and line number instead of being skipped.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pavlab.errors import PavlabError


@contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[Any]:
    """Open a temp file next to `path`; on clean exit fsync and rename it over `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: str | Path, obj: Any) -> None:
    with atomic_open(path) as handle:
        json.dump(obj, handle, indent=2, sort_keys=False, default=str)
        handle.write("\n")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise PavlabError("file not found", path=path)
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PavlabError(f"not valid JSON ({exc})", path=path) from None


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write all rows atomically; returns the number of rows written."""
    count = 0
    with atomic_open(path) as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def iter_jsonl(path: str | Path, required: Iterable[str] = ()) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, row) for every non-blank line; a malformed line raises a one-line error."""
    path = Path(path)
    if not path.is_file():
        raise PavlabError("file not found", path=path)
    required = tuple(required)
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise PavlabError(f"malformed JSON ({exc.msg})", path=path, line=number) from None
                except RecursionError:
                    raise PavlabError("JSON nested too deeply", path=path, line=number) from None
                if not isinstance(row, dict):
                    raise PavlabError("expected a JSON object", path=path, line=number)
                for key in required:
                    if key not in row:
                        raise PavlabError("missing", path=path, line=number, field=key)
                yield number, row
    except UnicodeDecodeError:
        raise PavlabError("not UTF-8 text", path=path) from None


def read_jsonl(path: str | Path, required: Iterable[str] = ()) -> list[dict[str, Any]]:
    return [row for _, row in iter_jsonl(path, required)]
