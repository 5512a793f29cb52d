"""After a whole flow, no name, national id, free text or birth date is found in any span,
stream entry, signal or export outside the service that may hold it."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared import telemetry
from tests.conftest import auth, running
from tests.factories import national_id, registration
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("brug_env")
TODAY = date.today()
ANALYST = auth(role="analyst", org="gov")


async def test_nothing_personal_leaves_where_it_belongs(
    redis: aioredis.Redis, brug_env: dict[str, str]
) -> None:
    exporter = InMemorySpanExporter()
    telemetry.install_exporter("privacy", exporter)
    people = []
    async with (
        running("intake") as intake,
        running("cases") as cases,
        running("signals") as signals,
    ):
        for i in range(6):
            birth = date(2011, 2, 3 + i)
            body = registration(
                person={
                    "national_id": national_id(birth, 500 + i),
                    "given_name": f"Wannes{i}",
                    "family_name": "Verhaegen",
                    "birth_date": birth.isoformat(),
                },
                consent={"given_by": "youth", "date": "2026-05-20"},
                summary=f"Geheim verhaal nummer {i}",
            )
            people.append(body)
            response = await intake.post(
                "/v1/registrations", json=body, headers={**auth(), "Idempotency-Key": f"p{i}"}
            )
            assert response.status_code == 202

        async def all_open() -> Any:
            page = (await cases.get("/v1/cases", headers=auth())).json()["items"]
            return page if len(page) == 6 else None

        opened = await eventually(all_open)
        case_ids = [c["id"] for c in opened]
        person_refs = [c["person_ref"] for c in opened]
        for case in opened:
            blocked = await cases.post(
                f"/v1/cases/{case['id']}/block",
                json={
                    "blockers": ["waiting_list"],
                    "domains": ["youth_care"],
                    "note": "Moeder Verhaegen belt elke dag",
                    "routes_tried": [
                        {
                            "provider_org": "vzw-zorg",
                            "provider_kind": "youth_care",
                            "answer": "refused",
                            "date": (TODAY - timedelta(days=3)).isoformat(),
                        }
                    ],
                },
                headers={**auth(), "If-Match": str(case["version"])},
            )
            assert blocked.status_code == 200

        async def raised() -> Any:
            return (await signals.get("/v1/signals", headers=ANALYST)).json()

        signal_list = await eventually(raised)
        export = (await signals.get("/v1/signals/export.csv", headers=ANALYST)).text
        dashboard = (await signals.get("/dashboard", headers=ANALYST)).text
        for client in (intake, cases, signals):
            await client.app.state.runtime.relay.flush()
    telemetry.flush_spans()

    secrets = {"Verhaegen", "Geheim verhaal", "belt elke dag"}
    for body in people:
        secrets |= {body["person"]["given_name"], body["person"]["national_id"]}
    birth_dates = {body["person"]["birth_date"] for body in people}

    def leaks(text: str, also: set[str] = frozenset()) -> list[str]:  # type: ignore[assignment]
        return [s for s in secrets | also if s in text]

    spans = exporter.get_finished_spans()
    assert spans
    for span in spans:
        text = span.name + json.dumps({k: str(v) for k, v in (span.attributes or {}).items()})
        assert not leaks(text, birth_dates), (span.name, leaks(text, birth_dates))
    prefix = brug_env["BRUG_STREAM_PREFIX"]
    for stream in [k async for k in redis.scan_iter(match=f"{prefix}*", _type="stream")]:
        for _, fields in await redis.xrange(stream):
            text = b" ".join(fields.values()).decode()
            assert not leaks(text), (stream, leaks(text))
            if not stream.endswith(b"brug.intake"):  # birth dates go from intake to cases only
                assert not leaks(text, birth_dates), stream
    for published in (json.dumps(signal_list), export, dashboard):
        assert not leaks(published, birth_dates)
        assert "vzw-zorg" not in published  # which provider said no stays in cases
        assert not [i for i in case_ids + person_refs if i in published]  # nor which cases
