"""User-facing errors: one line naming the file, line and field; the CLI turns them into exit code 2."""

from __future__ import annotations

from pathlib import Path


class PavlabError(Exception):
    """An error caused by the user's input or environment, shown as one line without a traceback."""

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        where = []
        if path is not None:
            where.append(str(path) + (f":{line}" if line is not None else ""))
        if field is not None:
            where.append(f"field '{field}'")
        self.path, self.line, self.field = path, line, field
        super().__init__((": ".join([", ".join(where), message]) if where else message).replace("\n", " "))
