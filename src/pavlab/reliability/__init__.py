"""Reliability tooling: the SIGKILL/resume harness that checks long jobs lose and duplicate no work."""
