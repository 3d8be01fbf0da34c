"""Anchoring the logs' checkpoints on chain: the HTTP routes (the anchorer itself lives in anchor/)."""
