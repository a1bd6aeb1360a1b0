"""`tensorboard: true` mirrors metrics.jsonl as scalars (step = iteration), once per step across resumes."""

import importlib.util
import sys

import pytest

from pavlab.errors import PavlabError
from pavlab.rl.tensorboard_log import EVENTS_GLOB, TENSORBOARD_DIR
from pavlab.rl.trainer import run_rl
from pavlab.tasks.planted import PlantedTask

needs_tensorboard = pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None,
                                       reason="needs pavlab[tensorboard]")


@pytest.fixture
def start_policy(tmp_path, make_planted_policy):
    return make_planted_policy(tmp_path / "start", PlantedTask().problems("train", 8), sft_steps=10)


def event_scalars(run_dir) -> dict[str, list[tuple[int, float]]]:
    """Every scalar TensorBoard shows for the run: {tag: [(step, value), ...]}, in file order, after purges."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / TENSORBOARD_DIR), size_guidance={"scalars": 0}).Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def jsonl_scalars(rows) -> dict[str, list[tuple[int, float]]]:
    """The same shape from metrics.jsonl rows, as float32 (what an event file stores)."""
    out: dict[str, list[tuple[int, float]]] = {}
    for row in rows:
        for key, value in row.items():
            if key != "iteration":
                out.setdefault(key, []).append((row["iteration"], pytest.approx(value, rel=1e-6, abs=1e-12)))
    return out


@needs_tensorboard
def test_tensorboard_scalars_equal_the_metrics_log(tmp_path, start_policy, make_rl_config, read_metrics):
    run_dir = run_rl(make_rl_config(start_policy, tmp_path / "run", iterations=3, eval_every=2, tensorboard=True))
    rows = read_metrics(run_dir)
    scalars = event_scalars(run_dir)
    assert scalars == jsonl_scalars(rows)
    assert {"train_accuracy", "outcome", "kl", "entropy", "samples_seen", "lr"} <= scalars.keys()
    assert [step for step, _ in scalars["test_accuracy"]] == [0, 2, 3]
    assert [step for step, _ in scalars["samples_seen"]] == [0, 1, 2, 3]


@needs_tensorboard
def test_resumed_run_logs_each_step_once(tmp_path, start_policy, make_rl_config, read_metrics, run_killed):
    config = make_rl_config(start_policy, tmp_path / "run", iterations=4, checkpoint_every=2, eval_every=3,
                            tensorboard=True)
    run_killed(config, at_step=4)  # rows 0-3 logged, checkpoint at 2: iteration 3 is redone on resume
    first_session = event_scalars(tmp_path / "run")
    assert [step for step, _ in first_session["seconds"]] == [1, 2, 3]
    run_dir = run_rl(config)

    assert len(list((run_dir / TENSORBOARD_DIR).glob(EVENTS_GLOB))) == 2  # the old file is kept, then purged
    scalars = event_scalars(run_dir)
    assert scalars == jsonl_scalars(read_metrics(run_dir))  # steps 3 and 4 as redone, once each
    assert [step for step, _ in scalars["seconds"]] == [1, 2, 3, 4]
    assert scalars["seconds"][2] != first_session["seconds"][2]  # step 3's point is the rerun's, not the stale one


@needs_tensorboard
def test_turning_tensorboard_on_mid_run_replays_the_history(tmp_path, start_policy, make_rl_config, read_metrics,
                                                          monkeypatch):
    run_rl(make_rl_config(start_policy, tmp_path / "run", iterations=2, checkpoint_every=2))
    assert not (tmp_path / "run" / TENSORBOARD_DIR).exists()
    monkeypatch.setenv("PAVLAB_ALLOW_CONFIG_CHANGE", "1")
    run_dir = run_rl(make_rl_config(start_policy, tmp_path / "run", iterations=3, checkpoint_every=2,
                                    tensorboard=True))
    assert event_scalars(run_dir) == jsonl_scalars(read_metrics(run_dir))


def test_missing_tensorboard_is_a_one_line_error_before_the_run_folder_or_model(tmp_path, monkeypatch,
                                                                                make_rl_config):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # both imports now raise ImportError
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(PavlabError, match=r"field 'tensorboard': .*pip install 'pavlab\[tensorboard\]'"):
        run_rl(make_rl_config(tmp_path / "no-such-policy", tmp_path / "run", iterations=1, tensorboard=True))
    assert not (tmp_path / "run").exists()
