"""Test-time search: best-of-N, majority and weighted vote, and step-level beam search with any step scorer."""

from pavlab.search.beam import beam_search
from pavlab.search.best_of_n import IID_METHODS, iid_search
from pavlab.search.outcome import SearchBatch, SearchOutcome, check_budget
from pavlab.search.scorers import (
    OracleScorer,
    ResponseScores,
    StepScorer,
    VerifierScorer,
    aggregate,
    build_scorer,
)

__all__ = [
    "IID_METHODS", "OracleScorer", "ResponseScores", "SearchBatch", "SearchOutcome", "StepScorer",
    "VerifierScorer", "aggregate", "beam_search", "build_scorer", "check_budget", "iid_search",
]
