"""The prover spec: which policy mu's progress is the process reward, written as one string.

| spec | prover |
|---|---|
| `bok:K` | Best-of-K(pi): its Q^mu is a formula of the Q^pi verifier's values |
| `model:DIR` | a Q^mu verifier trained on another policy's rollouts |
| `policy:PATH` | that other policy itself (what labeling rolls out; scoring it needs its `model:DIR`) |
| `mu:GAMMA` | the planted task's procedural prover mu_gamma, with exact values |
| `oracle` | a prover that never fails from a solvable state (Q^mu = the task oracle's 0/1): an RL ceiling |
| `solver:P` | the subset-sum testbed's noisy solver (a good move with probability P), with exact graded values |
| `auto` | the best-ranked `bok:K` on the labels (`pavlab.provers.rank.resolve_prover`) |

Every spec is parsed here, by `Prover.parse`, and a bad one gets the same message everywhere
("bad prover spec ...: expected ..." listing the forms the field accepts). Configs declare a
prover field with `prover_spec(...)` (or one of the aliases below) so a bad spec fails when the
config is loaded; the field keeps the string as written. A prover is a policy, so the spec lives
with the policies, the lowest layer that reads one (`mu:GAMMA` in `registry.build_policy`); it
imports nothing from pavlab but errors, and every layer above may use it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator

from pavlab.errors import PavlabError

ProverKind = Literal["mu", "bok", "policy", "model", "auto", "oracle", "solver"]
FORMS: dict[str, str] = {"mu": "mu:GAMMA (GAMMA > 0)", "bok": "bok:K (K >= 1)", "policy": "policy:PATH",
                         "model": "model:DIR", "auto": "auto", "oracle": "oracle", "solver": "solver:P (0 <= P <= 1)"}
PAV_KINDS: tuple[ProverKind, ...] = ("bok", "policy", "model")
"""The provers a PAV (`ProcessVerifier`) can be built for; the default of `Prover.parse`."""


def prover_syntax(kinds: tuple[str, ...] = PAV_KINDS) -> str:
    """'expected A, B or C' for the given kinds, in a fixed order."""
    forms = [form for kind, form in FORMS.items() if kind in kinds]
    return "expected " + (", ".join(forms[:-1]) + " or " + forms[-1] if len(forms) > 1 else forms[0])


PROVER_SYNTAX = prover_syntax()


@dataclass(frozen=True)
class Prover:
    """A parsed prover spec: `kind` plus its argument (`k`, `path`, `gamma` or `good_move_prob`)."""

    kind: ProverKind
    k: int | None = None
    path: Path | None = None
    gamma: float | None = None
    good_move_prob: float | None = None

    @classmethod
    def parse(cls, spec: str, *, kinds: tuple[str, ...] = PAV_KINDS, source: str | Path | None = None,
              field: str | None = "prover") -> Prover:
        """The prover `spec` names, if it is one of `kinds`; else the one PavlabError for a bad spec:
        what is wrong with it (when known) and the forms `kinds` allow."""
        prover = _parse(str(spec))
        if isinstance(prover, str) or prover.kind not in kinds:
            detail = f"{prover}; " if isinstance(prover, str) and prover else ""
            raise PavlabError(f"bad prover spec {spec!r}: {detail}{prover_syntax(kinds)}", path=source, field=field)
        return prover

    def __str__(self) -> str:
        if self.kind in ("auto", "oracle"):
            return self.kind
        arg = {"bok": self.k, "mu": self.gamma, "solver": self.good_move_prob}.get(self.kind, self.path)
        return f"{self.kind}:{arg:g}" if self.kind in ("mu", "solver") else f"{self.kind}:{arg}"


def _parse(spec: str) -> Prover | str:
    """The prover, or what is wrong with the spec ("" when it is not even of a known form)."""
    if spec in ("auto", "oracle"):
        return Prover(spec)  # type: ignore[arg-type]
    kind, colon, arg = spec.partition(":")
    if not colon or not arg.strip():
        return ""
    if kind == "bok":
        return Prover("bok", k=int(arg)) if arg.isdigit() and int(arg) >= 1 else "K must be a positive integer"
    if kind in ("policy", "model"):
        return Prover(kind, path=Path(arg))
    if kind == "mu":
        gamma = _number(arg)
        return Prover("mu", gamma=gamma) if math.isfinite(gamma) and gamma > 0 else "GAMMA must be a number > 0"
    if kind == "solver":
        p = _number(arg)
        return Prover("solver", good_move_prob=p) if 0 <= p <= 1 else "P must be a number in [0, 1]"
    return ""


def _number(text: str) -> float:
    """float(text), or nan when it is not a number (every comparison with nan is False)."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def procedural_gamma(spec: str | None) -> float | None:
    """gamma of a `mu:GAMMA` spec (the planted task's exact procedural prover); None for any other prover."""
    return None if spec is None or not spec.startswith("mu:") else Prover.parse(spec, kinds=("mu",)).gamma


def solver_good_move_prob(spec: str | None) -> float | None:
    """P of a `solver:P` spec (the subset-sum solver with exact values); None for any other prover."""
    if spec is None or not spec.startswith("solver:"):
        return None
    return Prover.parse(spec, kinds=("solver",)).good_move_prob


EXACT_PROVER_KINDS = ("oracle", "solver")
"""Provers whose values the task computes exactly (no verifier): RL ceilings and graded references."""


def is_exact_prover(spec: str | None) -> bool:
    """Does the task compute this prover's values itself (`oracle`, `solver:P`), with no verifier?"""
    return spec is not None and spec.partition(":")[0] in EXACT_PROVER_KINDS


def reads_q_pi(spec: str | None) -> bool:
    """Is this prover read through a Q^pi verifier (`bok:K` by formula, `auto` a ranked `bok:K`, `policy:PATH`
    through a `ProcessVerifier`)? A `model:DIR` prover is its own verifier; exact provers need none."""
    return spec is not None and spec.partition(":")[0] in ("bok", "auto", "policy")


def _checked(spec: str, kinds: tuple[str, ...]) -> str:
    """Pydantic wants a ValueError, so that the config loader names the file and field."""
    try:
        Prover.parse(spec, kinds=kinds, field=None)
    except PavlabError as exc:
        raise ValueError(str(exc)) from None
    return spec


def prover_spec(*kinds: ProverKind) -> Any:
    """A config field type: a prover spec of one of `kinds`, validated on load and kept as written."""
    return Annotated[str, AfterValidator(partial(_checked, kinds=kinds))]


PavProverSpec = prover_spec(*PAV_KINDS)
"""A prover a verifier can be trained for or built with: bok:K, policy:PATH, model:DIR."""
SearchProverSpec = prover_spec(*PAV_KINDS, "auto")
"""A PAV prover, or `auto` (ranked on labels before the search)."""
RLProverSpec = prover_spec("mu", *PAV_KINDS, "auto", "oracle", "solver")
"""Everything RL can reward progress under: a procedural mu:GAMMA on planted, a PAV prover, auto, the exact
oracle (a ceiling), or the subset-sum solver solver:P (exact graded values)."""
