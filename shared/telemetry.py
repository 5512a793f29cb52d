"""OpenTelemetry tracing; `traceparent` travels inside each event so one trace spans services.

Spans are recorded only when an exporter is configured (`BRUG_OTEL_EXPORTER_OTLP_ENDPOINT`, or a
test installing its own): otherwise no SDK provider exists, the OTLP exporter is not even
imported, and the API's no-op tracer costs next to nothing.

A trace runs: HTTP server span -> `publish <type>` (the outbox relay, PRODUCER) -> `consume
<type>` (each consumer group, CONSUMER) -> the events that handler publishes, and so on. The
traceparent written into a stream entry is that of its publish span.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue

_propagator = TraceContextTextMapPropagator()
_provider: TracerProvider | None = None
_otlp_endpoints: set[str] = set()


class ExporterMissing(RuntimeError):
    """The OTLP endpoint is set but the exporter package is not installed."""


def setup_tracing(service: str, endpoint: str | None) -> None:
    """Install an SDK tracer provider exporting over OTLP/HTTP, if an endpoint is set.

    The exporter is a dependency of brug; the import stays here so that a service without an
    endpoint never loads it (protobuf and all).
    """
    if not endpoint or endpoint in _otlp_endpoints:
        return
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:  # a broken install: say what to do instead of a traceback
        raise ExporterMissing(
            "BRUG_OTEL_EXPORTER_OTLP_ENDPOINT is set but the package "
            "opentelemetry-exporter-otlp-proto-http is missing: reinstall brug "
            "(`pip install .`) or unset the endpoint"
        ) from exc
    _otlp_endpoints.add(endpoint)
    install_exporter(service, OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces"))


def install_exporter(service: str, exporter: SpanExporter) -> None:
    """Record spans and hand them to `exporter` too (the provider is set once per process).

    The provider is not shut down at exit by the SDK (its join has no bound); `shutdown_tracing`
    does it within the shutdown budget instead.
    """
    global _provider
    if _provider is None:
        _provider = TracerProvider(
            resource=Resource.create({"service.name": f"brug-{service}"}),
            shutdown_on_exit=False,
        )
        trace.set_tracer_provider(_provider)
    _provider.add_span_processor(BatchSpanProcessor(exporter))


def tracing_enabled() -> bool:
    """Whether spans are recorded at all: work done only for them can be skipped if not."""
    return _provider is not None


def flush_spans() -> None:
    if _provider is not None:
        _provider.force_flush()


def shutdown_tracing(timeout: float) -> bool:
    """Export the spans still queued, waiting at most `timeout` seconds; True if all went.

    The SDK's flush and shutdown block for as long as the exporter retries (an unreachable
    collector: many seconds), so they run in a daemon thread the process does not wait for:
    observability must not hold a stopping service past its deadline.
    """
    if _provider is None:
        return True
    done = threading.Thread(target=_provider.shutdown, name="brug-span-shutdown", daemon=True)
    done.start()
    done.join(timeout)
    return not done.is_alive()


def tracer() -> trace.Tracer:
    return trace.get_tracer("brug")


def current_traceparent() -> str:
    """The W3C traceparent of the active span, or a fresh one when nothing is traced."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    if "traceparent" in carrier:
        return carrier["traceparent"]
    return f"00-{secrets.token_hex(16)}-{secrets.token_hex(8)}-00"


def traceparent_of(span: trace.Span) -> str | None:
    """The W3C traceparent naming `span`, or None for a span that is not a real one."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=trace.set_span_in_context(span))
    return carrier.get("traceparent")


def context_from(traceparent: str | None) -> Context:
    """A context whose parent is the span that `traceparent` names."""
    if not traceparent:
        return otel_context.get_current()
    return _propagator.extract({"traceparent": traceparent})


def start_span(
    name: str,
    traceparent: str | None,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> trace.Span:
    """A span, child of `traceparent`, not made current: the caller ends it (the relay opens
    one per event of a batch and ends them all when the pipelined XADDs have answered)."""
    return tracer().start_span(
        name, context=context_from(traceparent), kind=kind, attributes=attributes
    )


@contextmanager
def span(
    name: str,
    traceparent: str | None = None,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, AttributeValue] | None = None,
    **more: str,
) -> Iterator[trace.Span]:
    """A current span, child of `traceparent` when given; attributes never hold personal data.

    (`**more` keeps the older keyword form of attributes working.)
    """
    merged = {**(attributes or {}), **more}
    with tracer().start_as_current_span(
        name, context=context_from(traceparent), kind=kind, attributes=merged
    ) as current:
        yield current


@contextmanager
def within(traceparent: str | None) -> Iterator[None]:
    """Make the span `traceparent` names current without starting one, so that log lines
    written about an event (a failure, say) carry its trace and span ids."""
    if not traceparent:
        yield
        return
    token = otel_context.attach(context_from(traceparent))
    try:
        yield
    finally:
        otel_context.detach(token)
