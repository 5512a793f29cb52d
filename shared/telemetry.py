"""OpenTelemetry tracing; `traceparent` travels inside each event so one trace spans services.

Spans are recorded only when an exporter is configured (`BRUG_OTEL_EXPORTER_OTLP_ENDPOINT`, or a
test installing its own): otherwise the API's no-op tracer costs next to nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None


def setup_tracing(service: str, endpoint: str | None) -> None:
    """Install an SDK tracer provider exporting over OTLP/HTTP, if an endpoint is set."""
    if endpoint is None:
        return
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
        OTLPSpanExporter,
    )

    install_exporter(service, OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces"))


def install_exporter(service: str, exporter: SpanExporter) -> None:
    """Record spans and hand them to `exporter` too (the provider is set once per process)."""
    global _provider
    if _provider is None:
        _provider = TracerProvider(resource=Resource.create({"service.name": f"brug-{service}"}))
        trace.set_tracer_provider(_provider)
    _provider.add_span_processor(BatchSpanProcessor(exporter))


def flush_spans() -> None:
    if _provider is not None:
        _provider.force_flush()


def tracer() -> trace.Tracer:
    return trace.get_tracer("brug")


def current_traceparent() -> str:
    """The W3C traceparent of the active span, or a fresh one when nothing is traced."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    if "traceparent" in carrier:
        return carrier["traceparent"]
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"


def context_from(traceparent: str | None) -> Context:
    """A context whose parent is the span that `traceparent` names."""
    if not traceparent:
        return otel_context.get_current()
    return _propagator.extract({"traceparent": traceparent})


@contextmanager
def span(name: str, traceparent: str | None = None, **attributes: str) -> Iterator[None]:
    """A span, child of `traceparent` when given; attributes never hold personal data."""
    with tracer().start_as_current_span(
        name, context=context_from(traceparent), attributes=attributes
    ):
        yield
