"""Verifiers: value models that score every step prefix of a response in one forward pass (ORM, PRM, PAV)."""
