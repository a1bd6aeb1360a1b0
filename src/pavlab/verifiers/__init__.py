"""Verifiers: value models that score every step prefix of a response in one forward pass (ORM, PRM, PAV)."""

from pavlab.verifiers.model import ValueModel, VerifierInfo, load_tokenizer
from pavlab.verifiers.positions import build_scoring_inputs, step_end_token_indices
from pavlab.verifiers.progress import advantages, bok_values, effective_rewards
from pavlab.verifiers.scoring import score_prefixes
from pavlab.verifiers.step_scores import ProcessVerifier, StepValues
from pavlab.verifiers.train import VerifierTrainConfig, train_verifier

__all__ = [
    "ProcessVerifier", "StepValues", "ValueModel", "VerifierInfo", "VerifierTrainConfig",
    "advantages", "bok_values", "build_scoring_inputs", "effective_rewards", "load_tokenizer",
    "score_prefixes", "step_end_token_indices", "train_verifier",
]
