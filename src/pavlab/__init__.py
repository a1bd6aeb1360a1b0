"""pavlab: process advantage verifiers for LLM reasoning."""

__version__ = "0.1.0"
