"""The intake contract, point by point (SPEC section 4), against real Redis and databases."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from shared.domain import age_on
from shared.events.streams import service_stream
from tests.conftest import auth, running
from tests.factories import national_id, person, registration

pytestmark = pytest.mark.usefixtures("brug_env")


def fields_of(response: Any) -> set[str]:
    return {d["field"] for d in response.json()["detail"]}


async def post(client: Any, body: Any, key: str = "k1", **headers: str) -> Any:
    return await client.post(
        "/v1/registrations", json=body, headers={**auth(), "Idempotency-Key": key, **headers}
    )


async def test_registration_is_accepted_and_published_without_identity(
    redis: aioredis.Redis,
) -> None:
    async with running("intake") as client:
        response = await post(client, registration())
        assert response.status_code == 202, response.text
        answer = response.json()
        assert answer["status"] == "accepted"
        assert len(answer["person_ref"]) == 64
        await client.app.state.runtime.relay.flush()  # type: ignore[attr-defined]

    entries = await redis.xrange(service_stream("intake"))
    assert len(entries) == 1
    raw = entries[0][1][b"event"].decode()
    event = json.loads(raw)
    assert event["type"] == "brug.registration.accepted.v1"
    assert event["source"] == "/brug/intake"
    assert event["subject"] == answer["person_ref"]
    assert event["traceparent"].startswith("00-")
    assert event["data"]["registration_id"] == answer["registration_id"]
    assert event["data"]["registrant_org"] == "clb-gent"
    for secret in ("Kasper", "Peeters", "16031412337", "nauwelijks", "spanning"):
        assert secret not in raw


async def test_the_registrant_reads_it_back_with_names_and_others_get_404() -> None:
    async with running("intake") as client:
        answer = (await post(client, registration())).json()
        path = f"/v1/registrations/{answer['registration_id']}"
        own = await client.get(path, headers=auth(org="clb-gent"))
        assert own.status_code == 200
        assert own.json()["person"]["given_name"] == "Kasper"
        assert own.json()["summary"].startswith("Kasper komt")
        other = await client.get(path, headers=auth(org="caw-oost"))
        assert other.status_code == 404
        missing = await client.get("/v1/registrations/nope", headers=auth())
        assert missing.status_code == 404


async def test_every_offending_field_is_named() -> None:
    body = registration(
        person__national_id="16031412338",
        region__province="XYZ",
        urgency="whenever",
        reasons=["boredom"],
    )
    async with running("intake") as client:
        response = await post(client, body)
    assert response.status_code == 422
    assert {"person.national_id", "region.province", "urgency", "reasons.0"} <= fields_of(response)
    assert "16031412338" not in response.text  # input is not echoed back


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"person__birth_date": "2016-03-15"}, "person.national_id"),
        ({"region__municipality_nis": "44021"}, "region.municipality_nis"),
        ({"region__municipality_nis": "2406"}, "region.municipality_nis"),
        ({"school_level": "university"}, "school_level"),
        ({"domains": ["school", "space"]}, "domains.1"),
        ({"summary": "x" * 2001}, "summary"),
        ({"person__given_name": ""}, "person.given_name"),
        (
            {"person__birth_date": (date.today() + timedelta(days=3)).isoformat()},
            "person.birth_date",
        ),
        ({"nickname": "KP"}, "nickname"),
        ({"person__eye_colour": "blue"}, "person.eye_colour"),
        ({"reasons": []}, "reasons"),
    ],
)
async def test_bad_input_is_refused_naming_the_field(changes: dict[str, Any], field: str) -> None:
    async with running("intake") as client:
        response = await post(client, registration(**changes))
    assert response.status_code == 422, response.text
    assert field in fields_of(response)


async def test_brussels_nis_codes_belong_to_brussels_only() -> None:
    async with running("intake") as client:
        ok = await post(
            client, registration(region={"province": "BRU", "municipality_nis": "21004"}), "a"
        )
        wrong = await post(
            client, registration(region={"province": "VBR", "municipality_nis": "21004"}), "b"
        )
    assert ok.status_code == 202
    assert wrong.status_code == 422


async def test_consent_rules_by_age() -> None:
    under_12 = person(date(2016, 3, 14), "Lien", "Maes")
    over_12 = person(date(2011, 1, 10), "Jonas", "Claes")
    cases = [
        (under_12, {"given_by": "youth", "date": "2026-05-20"}, ["difficult_behaviour"], 422),
        (under_12, {"given_by": "guardian", "date": "2026-05-20"}, ["difficult_behaviour"], 202),
        (over_12, {"given_by": "parents", "date": "2026-05-20"}, ["difficult_behaviour"], 422),
        (over_12, {"given_by": "youth", "date": "2026-05-20"}, ["difficult_behaviour"], 202),
        (over_12, {"given_by": "youth_and_parents", "date": "2026-05-20"}, ["other"], 202),
        (over_12, None, ["difficult_behaviour"], 422),
        (over_12, None, ["problematic_absence"], 202),
    ]
    async with running("intake") as client:
        for i, (who, consent, reasons, expected) in enumerate(cases):
            body = registration(person=who, reasons=reasons, consent=consent)
            if consent is None:
                body.pop("consent")
            response = await post(client, body, key=f"consent-{i}")
            assert response.status_code == expected, (i, response.text)
            if expected == 422:
                assert fields_of(response) == {"consent"}


async def test_body_over_64_kib_gets_413() -> None:
    big = registration()
    big["padding"] = "x" * (65 * 1024)

    async def stream_body() -> Any:
        yield json.dumps(big).encode()

    async with running("intake") as client:
        response = await post(client, big)
        chunked = await client.post(
            "/v1/registrations",
            content=stream_body(),
            headers={**auth(), "Idempotency-Key": "chunked", "Content-Type": "application/json"},
        )
    assert response.status_code == 413
    assert chunked.status_code == 413


async def test_idempotency_key_replays_the_first_answer_and_refuses_another_body(
    redis: aioredis.Redis,
) -> None:
    async with running("intake") as client:
        first = await post(client, registration(), key="same")
        again = await post(client, registration(), key="same")
        other = await post(client, registration(urgency="low"), key="same")
        other_org = await client.post(
            "/v1/registrations",
            json=registration(),
            headers={**auth(org="caw-oost"), "Idempotency-Key": "same"},
        )
        missing = await client.post("/v1/registrations", json=registration(), headers=auth())
        await client.app.state.runtime.relay.flush()  # type: ignore[attr-defined]
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert other.status_code == 409
    assert other_org.status_code == 202
    assert other_org.json()["registration_id"] != first.json()["registration_id"]
    assert missing.status_code == 422
    assert "header Idempotency-Key" in fields_of(missing)
    assert await redis.xlen(service_stream("intake")) == 2


async def test_concurrent_requests_with_one_key_register_once(redis: aioredis.Redis) -> None:
    """Requests that arrive together share a transaction: a key repeated among them still
    registers once, answers the same, and refuses another body."""
    import asyncio

    bodies = [registration() for _ in range(12)] + [registration(urgency="low")]
    distinct = [
        registration(person=person(date(2018, 1, 1 + i), f"Naam{i}", "Samen")) for i in range(12)
    ]
    async with running("intake") as client:
        answers = await asyncio.gather(
            *(post(client, body, key="together") for body in bodies),
            *(post(client, body, key=f"own-{i}") for i, body in enumerate(distinct)),
        )
        await client.app.state.runtime.relay.flush()  # type: ignore[attr-defined]
        async with client.app.state.runtime.db.reading() as session:  # type: ignore[attr-defined]
            rows = await session.scalar(text("SELECT count(*) FROM registrations"))
    same, refused, own = answers[:12], answers[12], answers[13:]
    assert [a.status_code for a in same] == [202] * 12
    assert len({a.json()["registration_id"] for a in same}) == 1
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in same) == 11
    assert refused.status_code == 409
    assert [a.status_code for a in own] == [202] * 12
    assert len({a.json()["registration_id"] for a in own}) == 12
    assert rows == 13
    assert await redis.xlen(service_stream("intake")) == 13


async def test_same_person_from_two_organisations_gets_the_same_person_ref() -> None:
    without_id = registration()
    without_id["person"]["national_id"] = None
    variant = registration()
    variant["person"] = {
        **variant["person"],
        "national_id": None,
        "given_name": " KASPER ",
        "family_name": "peeters",
    }
    async with running("intake") as client:
        a = await post(client, without_id, key="a")
        b = await client.post(
            "/v1/registrations",
            json=variant,
            headers={**auth(org="school-x"), "Idempotency-Key": "b"},
        )
        c = await post(client, registration(), key="c")
    assert a.json()["person_ref"] == b.json()["person_ref"]
    assert a.json()["person_ref"] != c.json()["person_ref"]  # the national id is used when given


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, 401),
        ({"Authorization": "Bearer not-a-token"}, 401),
        (auth(role="analyst"), 403),
        (auth(role="partner", org="vdab"), 403),
    ],
)
async def test_only_case_workers_register(headers: dict[str, str], expected: int) -> None:
    async with running("intake") as client:
        response = await client.post(
            "/v1/registrations", json=registration(), headers={**headers, "Idempotency-Key": "x"}
        )
    assert response.status_code == expected


async def test_registrations_and_reads_are_audited() -> None:
    async with running("intake") as client:
        answer = (await post(client, registration())).json()
        await client.get(f"/v1/registrations/{answer['registration_id']}", headers=auth())
        db = client.app.state.runtime.db  # type: ignore[attr-defined]
        async with db.reading() as session:
            rows = (
                await session.execute(
                    text(
                        "SELECT actor_org, actor_sub, action, resource_id "
                        "FROM audit_log ORDER BY id"
                    )
                )
            ).all()
    assert [tuple(r) for r in rows] == [
        ("clb-gent", "user-1", "register", answer["registration_id"]),
        ("clb-gent", "user-1", "read", answer["registration_id"]),
    ]


async def test_many_young_people_with_generated_numbers() -> None:
    async with running("intake") as client:
        refs = set()
        for i in range(20):
            birth = date(2005 + i % 15, 1 + i % 12, 1 + i % 28)
            body = registration(
                person={
                    "national_id": national_id(birth, i + 1),
                    "given_name": f"Kind{i}",
                    "family_name": "Test",
                    "birth_date": birth.isoformat(),
                },
                consent={
                    "given_by": "youth" if age_on(birth, date(2026, 5, 20)) >= 12 else "parents",
                    "date": "2026-05-20",
                },
            )
            response = await post(client, body, key=f"many-{i}")
            assert response.status_code == 202, response.text
            refs.add(response.json()["person_ref"])
    assert len(refs) == 20


async def test_a_replayed_answer_says_so() -> None:
    async with running("intake") as client:
        first = await post(client, registration(), key="replay")
        again = await post(client, registration(), key="replay")
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
