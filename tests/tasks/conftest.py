"""Fixtures of the task tests."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest


@pytest.fixture
def fails_after() -> Callable[[int], AbstractContextManager[None]]:
    """`with fails_after(5): ...` raises instead of hanging: a parser that backtracks exponentially must fail its
    test, not stall the suite (SIGALRM interrupts even a running regular-expression match)."""
    @contextmanager
    def within(seconds: int) -> Iterator[None]:
        def hung(*_: object) -> None:
            raise AssertionError(f"still running after {seconds} s")

        previous = signal.signal(signal.SIGALRM, hung)
        signal.alarm(seconds)
        try:
            yield
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, previous)

    return within
