"""Helpers for cases tests: open a case the way production does, then change it over HTTP."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import redis.asyncio as aioredis

from shared.events.streams import service_stream
from tests.conftest import auth
from tests.factories import national_id, registration
from tests.waiting import eventually


async def open_case(
    intake: Any,
    cases: Any,
    *,
    birth: date,
    org: str = "clb-gent",
    key: str = "r",
    serial: int | None = None,
) -> dict[str, Any]:
    """Register a young person born on `birth` (the same `serial`, the same young person) and
    wait for the case to be open."""
    from shared.domain import age_on

    age = age_on(birth, date(2026, 5, 20))
    body = registration(
        person={
            "national_id": national_id(birth, serial),
            "given_name": f"Kind-{key}",
            "family_name": "Test",
            "birth_date": birth.isoformat(),
        },
        consent={"given_by": "youth" if age >= 12 else "parents", "date": "2026-05-20"},
    )
    response = await intake.post(
        "/v1/registrations", json=body, headers={**auth(org=org), "Idempotency-Key": key}
    )
    assert response.status_code == 202, response.text
    ref = response.json()["person_ref"]

    async def found() -> Any:
        page = await cases.get("/v1/cases", params={"person_ref": ref}, headers=auth(org=org))
        return [c for c in page.json()["items"] if c["status"] != "closed"]

    [summary] = await eventually(found)
    return dict((await cases.get(f"/v1/cases/{summary['id']}", headers=auth(org=org))).json())


async def change(
    cases: Any,
    case: dict[str, Any],
    method: str,
    path: str,
    body: Any = None,
    org: str = "clb-gent",
) -> Any:
    """A change at the case's current version; updates `case` in place on success."""
    response = await cases.request(
        method,
        f"/v1/cases/{case['id']}{path}",
        json=body,
        headers={**auth(org=org), "If-Match": f'"{case["version"]}"'},
    )
    if response.status_code in (200, 201):
        case.clear()
        case.update(response.json())
        assert response.headers["ETag"] == f'"{case["version"]}"'
    return response


def episode(
    domain: str,
    kind: str,
    start: date,
    end: date | None = None,
    outcome: str | None = None,
    provider: str = "school-a",
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "domain": domain,
        "kind": kind,
        "provider_org": provider,
        "start_date": start.isoformat(),
    }
    if end is not None:
        body["end_date"] = end.isoformat()
        body["outcome"] = outcome
    return body


async def case_events(redis: aioredis.Redis, case_id: str) -> list[dict[str, Any]]:
    entries = await redis.xrange(service_stream("cases"))
    events = [json.loads(fields[b"event"]) for _, fields in entries]
    return [e for e in events if e["subject"] == case_id]
