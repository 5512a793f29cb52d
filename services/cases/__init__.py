"""cases: one case per young person, their trajectory and its breaks."""
