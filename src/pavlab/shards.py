"""Resumable sharded JSONL output for long jobs (sampling, labeling).

Work is cut into fixed chunks (chunk i always holds the same work units and uses its own seed),
and each finished chunk is written atomically as `shard-{i:05d}.jsonl`. A killed job therefore
loses at most the chunk in flight, and a rerun skips finished chunks and reproduces the rest
exactly: no duplicated rows, no missing rows, no half-written file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pavlab.io import iter_jsonl, write_jsonl


def chunk_seed(seed: int, chunk_index: int) -> int:
    """A seed per chunk that does not depend on which chunks already ran."""
    digest = hashlib.sha256(f"{seed}:{chunk_index}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


class ShardedJsonl:
    """A folder of `shard-NNNNN.jsonl` files, one per finished chunk."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)

    def shard_path(self, index: int) -> Path:
        return self.folder / f"shard-{index:05d}.jsonl"

    def finished(self) -> set[int]:
        if not self.folder.is_dir():
            return set()
        return {int(path.stem.split("-")[1]) for path in self.folder.glob("shard-*.jsonl")}

    def write(self, index: int, rows: list[dict[str, Any]]) -> None:
        write_jsonl(self.shard_path(index), rows)

    def rows(self) -> Iterator[dict[str, Any]]:
        """All rows in chunk order (streamed, never all in memory)."""
        for index in sorted(self.finished()):
            for _, row in iter_jsonl(self.shard_path(index)):
                yield row
