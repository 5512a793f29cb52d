"""Stream names, all derived from one optional prefix (tests isolate themselves with it)."""

from __future__ import annotations

from shared.settings import get_settings

PUBLISHING_STREAMS = {
    "intake": "brug.intake",
    "cases": "brug.cases",
    "handover": "brug.handover",
    "signals": "brug.signals",
}
DEADLETTER = "brug.deadletter"


def stream_name(base: str, prefix: str | None = None) -> str:
    """The full Redis key of a stream, with the configured prefix."""
    p = get_settings().stream_prefix if prefix is None else prefix
    return f"{p}{base}"


def service_stream(service: str, prefix: str | None = None) -> str:
    """The stream a service publishes its own events on."""
    return stream_name(PUBLISHING_STREAMS[service], prefix)


def deadletter_stream(prefix: str | None = None) -> str:
    return stream_name(DEADLETTER, prefix)


def partner_stream(partner_id: str, prefix: str | None = None) -> str:
    return stream_name(f"brug.partner.{partner_id}", prefix)
