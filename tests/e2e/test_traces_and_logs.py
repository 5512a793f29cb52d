"""What an ops team sees of real service processes: spans reaching an OTLP collector when
`BRUG_OTEL_EXPORTER_OTLP_ENDPOINT` is set (one trace across processes), nothing at all when it
is not, and JSON log lines that carry the trace and span ids of what they were written for."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.conftest import auth
from tests.e2e.processes import ServiceProcess
from tests.factories import registration

pytestmark = pytest.mark.e2e


class Collector:
    """A stand-in OTLP/HTTP collector: keeps every POST to /v1/traces, answers 200."""

    def __init__(self) -> None:
        self.posts: list[tuple[str, str, bytes]] = []  # path, content type, body
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                collector.posts.append((self.path, self.headers.get("Content-Type", ""), body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def spans(self) -> list[dict[str, Any]]:
        """Every span received, flattened: service, name, kind, ids in hex."""
        found = []
        for path, _, body in self.posts:
            if path != "/v1/traces":
                continue
            request = ExportTraceServiceRequest.FromString(body)
            for resource_spans in request.resource_spans:
                service = next(
                    a.value.string_value
                    for a in resource_spans.resource.attributes
                    if a.key == "service.name"
                )
                for scope_spans in resource_spans.scope_spans:
                    for span in scope_spans.spans:
                        found.append(
                            {
                                "service": service,
                                "name": span.name,
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent_id": span.parent_span_id.hex(),
                                "attributes": {
                                    a.key: a.value.string_value for a in span.attributes
                                },
                            }
                        )
        return found


@pytest.fixture
def collector() -> Iterator[Collector]:
    running = Collector()
    running.thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


def records(process: ServiceProcess) -> list[dict[str, Any]]:
    """The process's log, every line of which must be a JSON object."""
    return [json.loads(line) for line in process.logs().splitlines() if line.strip()]


def test_without_an_endpoint_no_exporter_or_span_processor_is_installed(
    brug_env: dict[str, str],
) -> None:
    """No endpoint: no SDK provider, no span processor, the OTLP exporter not even imported,
    and spans are the API's no-op ones (they record nothing)."""
    probe = """
import sys
from opentelemetry import trace
from services.cases.app import create_app
from shared import telemetry
create_app()
span = telemetry.tracer().start_span("probe")
print(json.dumps({
    "enabled": telemetry.tracing_enabled(),
    "provider": type(trace.get_tracer_provider()).__name__,
    "exporter_loaded": any(m.startswith("opentelemetry.exporter") for m in sys.modules),
    "recording": span.is_recording(),
}))
"""
    env = {**os.environ, **brug_env}
    env.pop("BRUG_OTEL_EXPORTER_OTLP_ENDPOINT", None)
    result = subprocess.run(
        [sys.executable, "-c", "import json\n" + probe],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {
        "enabled": False,
        "provider": "ProxyTracerProvider",
        "exporter_loaded": False,
        "recording": False,
    }


def test_spans_reach_the_otlp_endpoint_and_log_lines_carry_their_ids(
    brug_env: dict[str, str], tmp_path: Path, collector: Collector
) -> None:
    """Intake and cases as processes exporting to a collector: the trace a caller starts runs
    through intake's relay into cases; the access log line of the request and cases' line for
    the event carry that trace's id and the ids of their spans; no personal data in the logs."""
    env = {**brug_env, "BRUG_OTEL_EXPORTER_OTLP_ENDPOINT": collector.url}
    intake = ServiceProcess("intake", {**env, "BRUG_LOG_LEVEL": "INFO"}, tmp_path).start()
    # DEBUG: the line per applied event (and the proof SQL parameters stay out even then)
    cases = ServiceProcess("cases", {**env, "BRUG_LOG_LEVEL": "DEBUG"}, tmp_path).start()
    caller_trace = secrets.token_hex(16)
    body = registration()
    try:
        response = httpx.post(
            f"{intake.url}/v1/registrations",
            json=body,
            headers={
                **auth(),
                "Idempotency-Key": "otlp",
                "traceparent": f"00-{caller_trace}-00f067aa0ba902b7-01",
            },
            timeout=10,
        )
        assert response.status_code == 202
        deadline = time.monotonic() + 20
        while not httpx.get(f"{cases.url}/v1/cases", headers=auth(), timeout=5).json()["items"]:
            assert time.monotonic() < deadline, "no case opened"
            time.sleep(0.1)
    finally:
        codes = [intake.stop(), cases.stop()]  # a clean stop exports the spans still queued
    assert codes == [0, 0]

    assert collector.posts, "nothing reached the OTLP endpoint"
    assert {path for path, _, _ in collector.posts} == {"/v1/traces"}
    assert {kind for _, kind, _ in collector.posts} == {"application/x-protobuf"}
    traced = [s for s in collector.spans() if s["trace_id"] == caller_trace]
    by_name = {(s["service"], s["name"]): s for s in traced}
    server = by_name[("brug-intake", "POST /v1/registrations")]
    publish = by_name[("brug-intake", "publish brug.registration.accepted.v1")]
    consume = by_name[("brug-cases", "consume brug.registration.accepted.v1")]
    assert server["parent_id"] == "00f067aa0ba902b7"
    assert consume["parent_id"] == publish["span_id"]  # across processes, through Redis

    access = [
        r
        for r in records(intake)
        if r["logger"] == "brug.access" and r["message"].startswith("POST /v1/registrations 202")
    ]
    assert len(access) == 1
    assert (access[0]["route"], access[0]["status"]) == ("/v1/registrations", 202)
    assert access[0]["ms"] > 0
    assert access[0]["trace_id"] == caller_trace
    assert access[0]["span_id"] == server["span_id"]
    applied = [
        r
        for r in records(cases)
        if r["message"].startswith("applied brug.registration.accepted.v1")
    ]
    assert len(applied) == 1
    assert applied[0]["trace_id"] == caller_trace
    assert applied[0]["span_id"] == consume["span_id"]

    person = body["person"]
    logs = intake.logs() + cases.logs()
    for secret in (person["national_id"], person["given_name"], person["family_name"]):
        assert secret not in logs
    assert body["summary"][:30] not in logs
