"""handover: a bare service for now (health endpoints); built in its own issue."""
