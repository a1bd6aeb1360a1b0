"""The Ray fan-out writes exactly the rows the in-process path writes, and resumes a killed run."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pavlab.distributed import connect_ray
from pavlab.errors import PavlabError
from pavlab.io import read_jsonl
from pavlab.labeling.format import label_shards
from pavlab.labeling.run import LabelConfig, run_labeling
from pavlab.policies.testbed import COUNTDOWN_SYMBOLS, TestbedConfig, build_model
from pavlab.policies.testbed_tokenizer import build_number_tokenizer
from pavlab.sampling import SampleConfig, run_sampling
from pavlab.shards import ShardedJsonl

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def local_ray():
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def testbed_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init, testbed-shaped (but tiny) countdown policy saved as a plain HF checkpoint."""
    config = TestbedConfig(hidden_size=16, intermediate_size=32, num_layers=1, num_heads=2)
    tokenizer = build_number_tokenizer(config.max_result, COUNTDOWN_SYMBOLS)
    path = tmp_path_factory.mktemp("testbed")
    build_model(config, tokenizer).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def planted_label_config(out: Path, workers: int) -> LabelConfig:
    return LabelConfig(task="planted", policy="mu:5", rollout_policy="mu:10", problems=6, n_cov=2, n_mc=4,
                       chunk_problems=2, seeding="first_pit", pit_seeds=1, workers=workers, out=out)


def label_rows(run_dir: Path) -> list[dict]:
    return list(label_shards(run_dir).rows())


def test_ray_labeling_matches_and_resumes_single_process(tmp_path: Path, local_ray: None) -> None:
    single = label_rows(run_labeling(planted_label_config(tmp_path / "single", workers=0)))
    assert len(single) == 6 * 2 + len([r for r in single if r["origin"] == "first_pit"])
    # A run killed after chunk 0: Ray resumes it and writes chunks 1 and 2 as the single process did.
    finished = label_shards(tmp_path / "single").shard_path(0)
    label_shards(tmp_path / "ray").write(0, read_jsonl(finished))
    assert label_rows(run_labeling(planted_label_config(tmp_path / "ray", workers=2))) == single


@pytest.mark.slow
def test_ray_labeling_matches_single_process_on_a_tiny_hf_model(tmp_path: Path, local_ray: None,
                                                                testbed_checkpoint: Path) -> None:
    def config(name: str, workers: int) -> LabelConfig:
        return LabelConfig(task="countdown", policy=str(testbed_checkpoint), problems=4, n_cov=2, n_mc=2,
                           chunk_problems=2, generation={"max_new_tokens": 12}, workers=workers,
                           out=tmp_path / name)

    single = label_rows(run_labeling(config("single", 0)))
    assert label_rows(run_labeling(config("ray", 2))) == single


@pytest.mark.slow
def test_ray_sampling_matches_single_process(tmp_path: Path, local_ray: None) -> None:
    def config(name: str, workers: int) -> SampleConfig:
        return SampleConfig(task="planted", policy="mu:8", problems=5, n=3, chunk_problems=2, workers=workers,
                            out=tmp_path / f"{name}.jsonl")

    assert read_jsonl(run_sampling(config("ray", 2))) == read_jsonl(run_sampling(config("single", 0)))


@pytest.mark.slow
def test_user_errors_inside_an_actor_stay_one_line(tmp_path: Path, local_ray: None) -> None:
    config = LabelConfig(task="countdown", policy="mu:5", problems=2, chunk_problems=1, workers=2,
                         out=tmp_path / "bad")
    with pytest.raises(PavlabError, match="only works on the planted task"):
        run_labeling(config)


def test_negative_workers_are_refused(tmp_path: Path) -> None:
    from pavlab.distributed import run_chunks

    with pytest.raises(PavlabError, match="workers must be >= 0"):
        run_chunks([[1]], dict, lambda worker, index, chunk: [], ShardedJsonl(tmp_path), workers=-1)


class RecordingRay:
    """Stands in for the `ray` module: records how the job asked to connect."""

    def __init__(self) -> None:
        self.calls: list[dict] = []

    def init(self, **kwargs: object) -> None:
        self.calls.append(kwargs)


def test_a_job_joins_the_cluster_named_by_ray_address(monkeypatch: pytest.MonkeyPatch) -> None:
    ray = RecordingRay()
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    connect_ray(ray, workers=2)
    monkeypatch.delenv("RAY_ADDRESS")
    connect_ray(ray, workers=3)
    joined, private = ray.calls
    assert joined["address"] == "10.0.0.1:6379" and "num_cpus" not in joined  # a running cluster owns its sizes
    assert private["num_cpus"] == 3 and "address" not in private
