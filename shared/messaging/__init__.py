"""Reliable messaging: outbox, inbox, consumer groups, reclaim and dead letters."""
