"""Event envelope, payload contracts and stream names."""
