"""The learned PAV pavlab ships: solver:0.3's values for RL from the shipped `subset_sum_habit` start.

Why: a learned PAV that beats ORM-RL on that start takes four rounds of Monte Carlo labels and training,
the last three labeled on the PAV-RL policies of the round before, which is where a weaker PAV gets hacked
(~3.5 hours on 2 cores, RESULTS.md 5b). Shipped (3.5 MB, beside the testbed policies), it lets a new user
run PAV-RL with a *learned* PAV in minutes (`--prover model:DIR`). Its folder's `pav.json`
records the commands that built it, so it can be rebuilt rather than trusted.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from pydantic import Field

from pavlab.config import Config
from pavlab.policies.testbed import shipped_folder

PAV_RECORD = "pav.json"
HABIT_PAV = "subset_sum_habit_pav"


def shipped_pav(name: str = HABIT_PAV) -> Path:
    """The folder of a shipped PAV (read-only; a `model:` prover reads it in place)."""
    return shipped_folder(name, PAV_RECORD, "PAV", field="name")


class ShippedPavConfig(Config):
    """Which shipped PAV to copy, and where."""

    name: str = Field(HABIT_PAV, description="shipped PAV (subset_sum_habit_pav: solver:0.3's values on the "
                                             "subset_sum_habit start, RESULTS.md 5b)")
    out: Path = Field(..., description="folder to copy the verifier to (read it as --prover model:OUT)")


def run_shipped_pav(config: ShippedPavConfig) -> Path:
    """The `verifier shipped` job: copy the shipped PAV `config.name` to `config.out`; returns that folder."""
    shutil.copytree(shipped_pav(config.name), config.out, dirs_exist_ok=True)
    return Path(config.out)
