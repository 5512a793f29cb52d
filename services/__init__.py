"""The four brug services."""
