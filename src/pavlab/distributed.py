"""Chunked jobs (labeling, sampling, search, evaluation) run in-process or fanned out over Ray actors.

Why one helper: every long job already cuts its work into chunks whose rows depend only on
(config, chunk index) and writes each finished chunk as a `ShardedJsonl` shard. Fanning out
therefore only changes *where* a chunk runs: each Ray actor builds its worker (a policy replica,
a verifier...) once, then processes chunks as the pool hands them out, and the driver writes
every finished chunk to the same shard it would have written in-process. Rows are identical for
the same seed, and a killed run resumes by skipping finished shards whichever path wrote them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

from pavlab.errors import PavlabError
from pavlab.shards import ShardedJsonl

ChunkT = TypeVar("ChunkT")
WorkerT = TypeVar("WorkerT")
Rows = list[dict[str, Any]]

# Local Ray must never phone home or start the dashboard on a shared box.
RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_DISABLE_USAGE_STATS": "1"}


class ChunkRunner(Generic[WorkerT, ChunkT]):
    """One replica: builds its worker once (on its first chunk, so a build error reaches the driver
    as that error), then turns (index, chunk) into (index, rows)."""

    def __init__(self, make_worker: Callable[[], WorkerT], process_chunk: Callable[[WorkerT, int, ChunkT], Rows],
                 torch_threads: int | None = None) -> None:
        if torch_threads is not None:
            import torch

            torch.set_num_threads(torch_threads)
        self.make_worker, self.process_chunk = make_worker, process_chunk
        self.worker: WorkerT | None = None

    def run(self, index: int, chunk: ChunkT) -> tuple[int, Rows]:
        if self.worker is None:
            self.worker = self.make_worker()
        return index, self.process_chunk(self.worker, index, chunk)


def run_chunks(chunks: Sequence[ChunkT], make_worker: Callable[[], WorkerT],
               process_chunk: Callable[[WorkerT, int, ChunkT], Rows], shards: ShardedJsonl, workers: int = 0,
               on_chunk_done: Callable[[int], None] | None = None, torch_threads: int = 1) -> None:
    """Process every chunk whose shard is missing and write its rows to `shards`.

    `workers = 0` runs in this process; `workers >= 1` starts that many Ray actors (each with one
    CPU, or one GPU when the driver asked Ray for GPUs, and `torch_threads` torch threads) and
    streams shards as they finish. `make_worker` and `process_chunk` must be picklable for Ray
    (module-level functions or `functools.partial` of them). A worker is only built when a chunk is left.
    """
    if workers < 0:
        raise PavlabError(f"workers must be >= 0, got {workers}", field="workers")
    pending = [index for index in range(len(chunks)) if index not in shards.finished()]
    if not pending:
        return
    if workers == 0:
        worker = make_worker()
        for index in pending:
            shards.write(index, process_chunk(worker, index, chunks[index]))
            if on_chunk_done is not None:
                on_chunk_done(index)
        return
    for index, rows in _ray_map(chunks, pending, make_worker, process_chunk, min(workers, len(pending)),
                                torch_threads):
        shards.write(index, rows)
        if on_chunk_done is not None:
            on_chunk_done(index)


def _ray_map(chunks: Sequence[ChunkT], pending: list[int], make_worker: Callable[[], WorkerT],
             process_chunk: Callable[[WorkerT, int, ChunkT], Rows], workers: int,
             torch_threads: int) -> Iterator[tuple[int, Rows]]:
    """Yield (index, rows) from an ActorPool of `workers` ChunkRunners, in completion order."""
    ray = import_ray()
    started_here = not ray.is_initialized()
    if started_here:
        connect_ray(ray, workers)
    from ray.util import ActorPool

    gpus = 1 if ray.cluster_resources().get("GPU", 0) >= workers else 0
    runner_cls = ray.remote(num_cpus=1, num_gpus=gpus)(ChunkRunner)
    actors = [runner_cls.remote(make_worker, process_chunk, torch_threads) for _ in range(workers)]
    pool = ActorPool(actors)
    try:
        results = pool.map_unordered(lambda actor, index: actor.run.remote(index, chunks[index]), pending)
        yield from _unwrap_errors(ray, results)
    finally:
        for actor in actors:
            ray.kill(actor)
        if started_here:
            ray.shutdown()


def connect_ray(ray: Any, workers: int) -> None:
    """Join the cluster named by RAY_ADDRESS (`ray start --head` once, then every job reuses it), or
    start a private local one sized to `workers` CPUs, which costs several seconds per job."""
    options = {"log_to_driver": False, "runtime_env": {"env_vars": dict(RAY_ENV)}}
    address = os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, **options)
    else:
        ray.init(num_cpus=workers, include_dashboard=False, **options)


def _unwrap_errors(ray: Any, results: Any) -> Any:
    """Re-raise a user error from inside an actor as itself, so the CLI still prints one line."""
    try:
        yield from results
    except ray.exceptions.RayTaskError as exc:
        if isinstance(exc.cause, PavlabError):
            raise exc.cause from None
        raise


def import_ray() -> Any:
    """Ray, imported on first use with usage stats off; a one-line error when the extra is missing."""
    for key, value in RAY_ENV.items():
        os.environ.setdefault(key, value)
    try:
        import ray
    except ImportError:
        raise PavlabError("workers >= 1 needs Ray: pip install 'pavlab[ray]'", field="workers") from None
    return ray
