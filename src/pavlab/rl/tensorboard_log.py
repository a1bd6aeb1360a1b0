"""Optional TensorBoard mirror of `metrics.jsonl`: the same rows, as scalars with the iteration as step.

TensorBoard is an optional extra (`pavlab[tensorboard]`), imported only when a run asks for it.
A resumed run continues the folder with a new event file whose `purge_step` is the first iteration
this session writes: rows written after the last checkpoint are recomputed, and TensorBoard drops
their older points, so every step shows once. A folder without event files (logging turned on
mid-run, or the folder deleted) gets the whole restored history replayed instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from pavlab.errors import PavlabError

TENSORBOARD_DIR = "tensorboard"
INSTALL_HINT = "TensorBoard logging needs tensorboard: pip install 'pavlab[tensorboard]'"
EVENTS_GLOB = "events.out.tfevents.*"


def summary_writer_class() -> type:
    """torch's `SummaryWriter`, or a one-line error when the extra is missing (checked before model work)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise PavlabError(INSTALL_HINT, field="tensorboard") from None
    return SummaryWriter


def scalars(row: dict[str, Any]) -> dict[str, float]:
    """A metrics row's numeric fields, minus the iteration (it is the step)."""
    return {key: float(value) for key, value in row.items()
            if key != "iteration" and isinstance(value, (int, float))}


class TensorBoardLog:
    """Appends metrics rows to `log_dir` as scalars; flushes each row, so a killed run loses none."""

    def __init__(self, log_dir: Path, history: Sequence[dict[str, Any]]) -> None:
        log_dir = Path(log_dir)
        replay = list(history) if not any(log_dir.glob(EVENTS_GLOB)) else []
        first = 0 if replay or not history else history[-1]["iteration"] + 1
        self.writer = summary_writer_class()(log_dir=str(log_dir), purge_step=first)
        for row in replay:
            self.write(row)

    def write(self, row: dict[str, Any]) -> None:
        for tag, value in scalars(row).items():
            self.writer.add_scalar(tag, value, global_step=row["iteration"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()

    def __enter__(self) -> TensorBoardLog:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()


class NoLog:
    """Stands in for `TensorBoardLog` when logging is off, so the training loop logs unconditionally."""

    def write(self, row: dict[str, Any]) -> None:
        pass

    def __enter__(self) -> NoLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass


def open_log(enabled: bool, log_dir: Path, history: Sequence[dict[str, Any]]) -> TensorBoardLog | NoLog:
    return TensorBoardLog(log_dir, history) if enabled else NoLog()
