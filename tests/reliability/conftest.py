"""Shared helpers for the reliability tests: the CLI runner and tiny model fixtures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from pavlab.reliability.jobs import tiny_policy


@pytest.fixture
def pavlab(run_cli: Callable[..., tuple[int, str, str]]) -> Callable[..., tuple[int, str, str]]:
    """The in-process CLI runner under the name these tests read best with."""
    return run_cli


@pytest.fixture(scope="session")
def policy_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_policy(tmp_path_factory.mktemp("policy") / "policy")


@pytest.fixture(scope="session")
def verifier_dir(tmp_path_factory: pytest.TempPathFactory, policy_dir: Path) -> Path:
    """A 2-step scratch PAV on three hand-written label rows (enough to be loadable)."""
    from pavlab.io import write_jsonl
    from pavlab.verifiers.train import VerifierTrainConfig, train_verifier

    root = tmp_path_factory.mktemp("verifier")
    labels = root / "labels.jsonl"
    write_jsonl(labels, [{"problem_id": f"p{i}", "prompt": "1 2 3 4 5", "steps": ["3", "4"], "correct": i == 0,
                          "q_hat": [0.5, 0.25 * i, 0.0]} for i in range(3)])
    config = VerifierTrainConfig(init="scratch", tokenizer=str(policy_dir), steps=2, batch_size=2, warmup=0,
                                 max_length=32, device="cpu", scratch={"hidden_size": 16, "num_layers": 1,
                                                                       "num_heads": 2, "intermediate_size": 32})
    return train_verifier(config, [labels], root / "verifier")
