"""CloudEvents 1.0 envelope (structured JSON mode) with the W3C `traceparent` extension.

On the wire, a stream entry has one field, `event`, holding the envelope as JSON. Partners and
tools can read it with any Redis client.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Container
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.events.contracts import EVENT_TYPES, Payload

P = TypeVar("P")

ENTRY_FIELD = "event"


class Envelope(BaseModel, Generic[P]):
    """A CloudEvent; `data` is the typed payload."""

    model_config = ConfigDict(extra="ignore")

    specversion: str = "1.0"
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str
    type: str
    subject: str
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: str = "application/json"
    traceparent: str | None = None
    data: P


class MalformedEvent(ValueError):
    """The entry cannot be read as a brug event: it goes straight to the dead letters."""


def event_type(name: str, major: int = 1) -> str:
    """`case.blocked` -> `brug.case.blocked.v1`."""
    return f"brug.{name}.v{major}"


def build(
    *, service: str, name: str, subject: str, data: Payload, traceparent: str | None = None
) -> Envelope[Any]:
    """A new envelope for a payload published by `service`."""
    return Envelope[Any](
        source=f"/brug/{service}",
        type=event_type(name),
        subject=subject,
        traceparent=traceparent,
        data=data,
    )


def parse_entry(
    fields: dict[bytes, bytes] | dict[str, str], *, wanted: Container[str] | None = None
) -> Envelope[Any] | None:
    """Read a stream entry into a typed envelope, or raise MalformedEvent saying why.

    With `wanted`, an event of another type is returned as None after reading only its type:
    a consumer does not validate what it will not apply. Unknown event types are returned with
    `data` as a plain dict, so consumers can skip them.
    """
    raw = fields.get(ENTRY_FIELD) or fields.get(ENTRY_FIELD.encode())  # type: ignore[call-overload]
    if raw is None:
        raise MalformedEvent(f"entry has no '{ENTRY_FIELD}' field")
    try:
        head = json.loads(raw)
    except ValueError:
        raise MalformedEvent("not a CloudEvents envelope: not JSON") from None
    kind = head.get("type") if isinstance(head, dict) else None
    if not isinstance(kind, str):
        raise MalformedEvent(f"not a CloudEvents envelope: {_envelope_errors(raw) or 'no type'}")
    if head.get("specversion", "1.0") != "1.0":
        raise MalformedEvent(f"unsupported specversion {head['specversion']!r}")
    if wanted is not None and kind not in wanted:
        return None
    model = EVENT_TYPES.get(kind, dict[str, Any])
    try:
        return Envelope[model].model_validate_json(raw)  # type: ignore[valid-type]
    except ValidationError as exc:
        envelope_errors = _envelope_errors(raw)
        if envelope_errors:
            raise MalformedEvent(f"not a CloudEvents envelope: {envelope_errors}") from exc
        raise MalformedEvent(f"invalid {kind} payload: {_short(exc)}") from exc


def _envelope_errors(raw: str | bytes) -> str:
    """What is wrong with the envelope itself, whatever its payload ('' if nothing)."""
    try:
        Envelope[dict[str, Any]].model_validate_json(raw)
    except ValidationError as exc:
        return _short(exc)
    return ""


def _short(exc: Exception) -> str:
    """The reason, without echoing input values (they could hold anything)."""
    if isinstance(exc, ValidationError):
        parts = [
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
            for e in exc.errors(include_input=False, include_url=False)
        ]
        return "; ".join(parts)[:500]
    return type(exc).__name__
