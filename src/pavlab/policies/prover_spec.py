"""The prover spec: which policy mu's progress is the process reward, written as one string.

| spec | prover |
|---|---|
| `bok:K` | Best-of-K(pi): its Q^mu is a formula of the Q^pi verifier's values |
| `model:DIR` | a Q^mu verifier trained on another policy's rollouts |
| `policy:PATH` | that other policy itself (what labeling rolls out; scoring it needs its `model:DIR`) |
| `mu:GAMMA` | the planted task's procedural prover mu_gamma, with exact values |
| `oracle` | a prover that never fails from a solvable state (Q^mu = the task oracle's 0/1): an RL ceiling |
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

ProverKind = Literal["mu", "bok", "policy", "model", "auto", "oracle"]
FORMS: dict[str, str] = {"mu": "mu:GAMMA (GAMMA > 0)", "bok": "bok:K (K >= 1)", "policy": "policy:PATH",
                         "model": "model:DIR", "auto": "auto", "oracle": "oracle"}
PAV_KINDS: tuple[ProverKind, ...] = ("bok", "policy", "model")
"""The provers a PAV (`ProcessVerifier`) can be built for; the default of `Prover.parse`."""


def prover_syntax(kinds: tuple[str, ...] = PAV_KINDS) -> str:
    """'expected A, B or C' for the given kinds, in a fixed order."""
    forms = [form for kind, form in FORMS.items() if kind in kinds]
    return "expected " + (", ".join(forms[:-1]) + " or " + forms[-1] if len(forms) > 1 else forms[0])


PROVER_SYNTAX = prover_syntax()


@dataclass(frozen=True)
class Prover:
    """A parsed prover spec: `kind` plus its argument (`k`, `path` or `gamma`)."""

    kind: ProverKind
    k: int | None = None
    path: Path | None = None
    gamma: float | None = None

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
        arg = {"bok": self.k, "mu": self.gamma}.get(self.kind, self.path)
        return f"{self.kind}:{arg:g}" if self.kind == "mu" else f"{self.kind}:{arg}"


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
        try:
            gamma = float(arg)
        except ValueError:
            gamma = math.nan
        return Prover("mu", gamma=gamma) if math.isfinite(gamma) and gamma > 0 else "GAMMA must be a number > 0"
    return ""


def procedural_gamma(spec: str | None) -> float | None:
    """gamma of a `mu:GAMMA` spec (the planted task's exact procedural prover); None for any other prover."""
    return None if spec is None or not spec.startswith("mu:") else Prover.parse(spec, kinds=("mu",)).gamma


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
RLProverSpec = prover_spec("mu", *PAV_KINDS, "auto", "oracle")
"""Everything RL can reward progress under: a procedural mu:GAMMA on planted, a PAV prover, auto, or the exact
oracle (a ceiling)."""
