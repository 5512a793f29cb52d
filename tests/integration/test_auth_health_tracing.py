"""Tokens (HS256 and RS256 via JWKS), readiness, and the trace that travels inside events."""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from redis.asyncio import Redis

from shared import telemetry
from shared.cli.infra import free_port
from shared.events.streams import service_stream
from shared.settings import DEV_JWT_SECRET, get_settings
from tests.conftest import auth, running
from tests.factories import registration
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("brug_env")


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {"sub": "u1", "role": "case_worker", "org": "clb-gent", "exp": now + 600, "iat": now}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        (jwt.encode(claims(), DEV_JWT_SECRET, algorithm="HS256"), 200),
        (jwt.encode(claims(exp=int(time.time()) - 10), DEV_JWT_SECRET, algorithm="HS256"), 401),
        (jwt.encode(claims(nbf=int(time.time()) + 600), DEV_JWT_SECRET, algorithm="HS256"), 401),
        (
            jwt.encode(claims(), "another-secret-of-enough-length-0123456789", algorithm="HS256"),
            401,
        ),
        (jwt.encode(claims(), None, algorithm="none"), 401),  # type: ignore[arg-type]
        (jwt.encode(claims(org=...), DEV_JWT_SECRET, algorithm="HS256"), 401),
        (jwt.encode(claims(role="superuser"), DEV_JWT_SECRET, algorithm="HS256"), 401),
    ],
)
async def test_only_valid_tokens_pass(token: str, expected: int) -> None:
    async with running("cases") as cases:
        response = await cases.get("/v1/cases", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == expected, response.text


async def test_rs256_tokens_verified_through_a_jwks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": "idp-1", "use": "sig", "alg": "RS256"})
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk]}))
    monkeypatch.setenv("BRUG_JWT_JWKS_URL", jwks.as_uri())
    get_settings.cache_clear()
    good = jwt.encode(claims(), key, algorithm="RS256", headers={"kid": "idp-1"})
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(claims(), other_key, algorithm="RS256", headers={"kid": "idp-1"})
    # the development secret is public: once a JWKS is set, a token it signs is nobody's
    minted = jwt.encode(claims(role="admin"), DEV_JWT_SECRET, algorithm="HS256")
    async with running("cases") as cases:
        ok = await cases.get("/v1/cases", headers={"Authorization": f"Bearer {good}"})
        bad = await cases.get("/v1/cases", headers={"Authorization": f"Bearer {forged}"})
        self_made = await cases.get("/v1/cases", headers={"Authorization": f"Bearer {minted}"})
    assert ok.status_code == 200
    assert bad.status_code == 401
    assert self_made.status_code == 401


async def test_health_and_readiness() -> None:
    async with running("cases") as cases:
        assert (await cases.get("/healthz")).json() == {"status": "ok"}
        ready = await cases.get("/readyz")
        assert ready.status_code == 200
        checks = ready.json()["checks"]
        assert checks["database"] == checks["redis"] == "ok"
        assert any(name.startswith("group cases on") for name in checks)
        runtime = cases.app.state.runtime  # type: ignore[attr-defined]
        real = runtime.redis
        runtime.redis = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0")  # nobody there
        try:
            down = await cases.get("/readyz")
        finally:
            runtime.redis = real
        assert down.status_code == 503
        assert down.json()["checks"]["redis"].startswith("unavailable")


def one_span(spans: list[ReadableSpan], name: str, group: str | None = None) -> ReadableSpan:
    """The one span of that name (and consumer group): a second one would be a double publish."""
    found = [
        s
        for s in spans
        if s.name == name
        and (group is None or (s.attributes or {}).get("messaging.consumer.group.name") == group)
    ]
    assert len(found) == 1, [s.name for s in spans]
    return found[0]


async def test_one_trace_runs_from_the_request_through_relays_and_streams_to_signals() -> None:
    """HTTP server span -> its handler -> publish registration.accepted (intake's relay) ->
    consume it (cases) -> publish case.opened (cases' relay) -> consume it (signals): each the
    parent of the next, all one trace."""
    exporter = InMemorySpanExporter()
    telemetry.install_exporter("test", exporter)
    caller_trace = secrets.token_hex(16)
    async with running("intake") as intake, running("cases") as cases, running("signals"):
        response = await intake.post(
            "/v1/registrations",
            json=registration(),
            headers={
                **auth(),
                "Idempotency-Key": "traced",
                "traceparent": f"00-{caller_trace}-00f067aa0ba902b7-01",
            },
        )
        assert response.status_code == 202

        async def opened() -> Any:
            page = await cases.get("/v1/cases", headers=auth())
            return page.json()["items"]

        await eventually(opened)

        def signals_saw_it() -> Any:
            telemetry.flush_spans()
            return any(
                s.name == "consume brug.case.opened.v1"
                and f"{s.context.trace_id:032x}" == caller_trace
                for s in exporter.get_finished_spans()
            )

        await eventually(lambda: asyncio.sleep(0, signals_saw_it()))
    telemetry.flush_spans()
    spans = [
        s for s in exporter.get_finished_spans() if f"{s.context.trace_id:032x}" == caller_trace
    ]
    server = one_span(spans, "POST /v1/registrations")
    chain = [
        server,
        one_span(spans, "fastapi.endpoint"),  # the route's handler, which queues the event
        one_span(spans, "publish brug.registration.accepted.v1"),
        one_span(spans, "consume brug.registration.accepted.v1", group="cases"),
        one_span(spans, "publish brug.case.opened.v1"),
        one_span(spans, "consume brug.case.opened.v1", group="signals"),
    ]
    # the server span continues the caller's trace...
    assert server.kind == SpanKind.SERVER
    assert server.parent is not None
    assert server.parent.span_id == 0x00F067AA0BA902B7
    # ...and each step is the direct child of the one before
    for parent, child in itertools.pairwise(chain):
        assert child.parent is not None, child.name
        assert child.parent.span_id == parent.context.span_id, (child.name, parent.name)
    kinds = [s.kind for s in chain[2:]]
    assert kinds == [SpanKind.PRODUCER, SpanKind.CONSUMER] * 2
    publish = chain[2]
    attributes = dict(publish.attributes or {})
    assert attributes["messaging.system"] == "redis"
    assert attributes["messaging.destination.name"] == service_stream("intake")
    assert attributes["messaging.message.id"]
    assert str(attributes["brug.stream.entry_id"]).count("-") == 1
    # no personal data in any span: names, national id, free text
    person = registration()["person"]
    secrets_ = [person["given_name"], person["family_name"], person["national_id"]]
    for one in spans:
        text = json.dumps({k: str(v) for k, v in (one.attributes or {}).items()}) + one.name
        assert not any(secret in text for secret in secrets_), one.name
        assert registration()["summary"][:20] not in text


async def test_metrics_show_requests_events_lag_backlog_and_breaks() -> None:
    async with running("intake") as intake, running("cases") as cases:
        response = await intake.post(
            "/v1/registrations",
            json=registration(),
            headers={**auth(), "Idempotency-Key": "metrics"},
        )
        assert response.status_code == 202

        async def opened() -> Any:
            return (await cases.get("/v1/cases", headers=auth())).json()["items"]

        await eventually(opened)
        text = (await cases.get("/metrics")).text
        intake_text = (await intake.get("/metrics")).text
    assert 'brug_http_requests_total{method="GET",route="/v1/cases",status="200"}' in text
    assert "brug_http_request_seconds_bucket" in text
    assert "brug_events_consumed_total" in text
    assert "brug_consumer_lag{" in text
    assert "brug_consumer_pending{" in text
    assert "brug_outbox_backlog" in text
    assert "brug_outbox_oldest_seconds" in text
    assert 'brug_domain_count{name="open_breaks"}' in text
    assert 'route="/v1/registrations",status="202"' in intake_text
    assert "brug_events_published_total" in intake_text
