"""Test-time search: best-of-N, majority and weighted vote, and step-level beam search with any step scorer."""
