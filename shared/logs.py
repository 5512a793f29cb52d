"""Structured JSON logs, one object per line, with the trace and span of the moment.

Log messages name ids and counts, never a name, a national register number or free text; the
end-to-end tests scan the logs for them.

A line written while a request or an event is handled carries `trace_id` and `span_id`, so an
ops team goes from a log line to its trace (when tracing is on; without an exporter there are
no spans, hence no ids, except an event's own trace when a failure about it is logged).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace


class JsonFormatter(logging.Formatter):
    """One JSON object per record; `extra={"fields": {...}}` adds ids and figures as keys of
    their own (the access log's status and duration), so they can be queried, not parsed."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        context = trace.get_current_span().get_span_context()
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update((k, v) for k, v in fields.items() if k not in entry)
        if context.is_valid:
            entry["trace_id"] = f"{context.trace_id:032x}"
            entry["span_id"] = f"{context.span_id:016x}"
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


# Loggers that would write personal data at INFO or DEBUG (SQLAlchemy logs statements with their
# parameters: names, national ids): held at WARNING whatever the level asked for.
KEPT_QUIET = ("sqlalchemy",)
# Probes and scrapes, every few seconds per pod: logged at DEBUG only (and never shed, see
# shared/http.py).
PROBE_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})

access_log = logging.getLogger("brug.access")


def configure(service: str, level: str) -> None:
    """JSON lines on stderr for the service and the libraries it runs on."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in KEPT_QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


def log_request(method: str, route: str, status: int, seconds: float) -> None:
    """One line per request, by its route template: a raw path or query could hold an id."""
    level = logging.DEBUG if route in PROBE_ROUTES else logging.INFO
    if access_log.isEnabledFor(level):
        milliseconds = round(seconds * 1000, 1)
        fields = {"method": method, "route": route, "status": status, "ms": milliseconds}
        access_log.log(
            level, "%s %s %d %.1f ms", method, route, status, milliseconds, extra={"fields": fields}
        )
