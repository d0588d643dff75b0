"""`make demo`: the platform from a fresh clone to a port-forward, step by step (demo/)."""
