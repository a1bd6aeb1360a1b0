"""Fixtures shared by every test folder."""

from __future__ import annotations

import sys
from collections.abc import Callable

import pytest

from pavlab.cli import main

CliRunner = Callable[..., tuple[int, str, str]]


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]) -> CliRunner:
    """The real `pavlab` entry point in-process: `run_cli("eval", path)` -> (exit code, stdout, stderr)."""
    def run(*args: str) -> tuple[int, str, str]:
        argv, sys.argv = sys.argv, ["pavlab", *args]
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            sys.argv = argv
        out, err = capsys.readouterr()
        return code, out, err

    return run
