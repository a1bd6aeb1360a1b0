"""Adapters that let existing distributed engines (verl) use pavlab's process rewards."""
