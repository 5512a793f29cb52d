"""The `brug` command."""
