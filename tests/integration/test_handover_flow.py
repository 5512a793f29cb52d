"""The warm handover end to end in one process per service set: from an early school leaver
to a confirmed start, what each side sees, and every refusal on the way."""

from __future__ import annotations

import asyncio
import json
from datetime import date, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from shared.events.streams import partner_stream, service_stream
from tests.conftest import auth, running
from tests.integration.cases_helpers import change, episode, open_case
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("brug_env")
TODAY = date.today()
ADMIN = auth(role="admin", org="brug-ops")
SENDER = auth(org="clb-gent")
VDAB = auth(role="partner", org="vdab")
SYNTRA = auth(role="partner", org="syntra")


PARTNERS = (("vdab", ["work", "training"]), ("syntra", ["training"]))


async def make_partners(handover: Any, partners: Any = PARTNERS) -> None:
    """Partners in VBR and ANT, created by an admin: (partner_id, destinations) each."""
    for partner_id, destinations in partners:
        response = await handover.post(
            "/v1/partners",
            json={
                "partner_id": partner_id,
                "name": partner_id.upper(),
                "destinations": destinations,
                "provinces": ["VBR", "ANT"],
                "response_days": 5,
            },
            headers=ADMIN,
        )
        assert response.status_code == 201, response.text


async def early_leaver(
    intake: Any, cases: Any, handover: Any, key: str = "r"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A 16-year-old drops out; brug proposes a handover by itself."""
    birth = date(TODAY.year - 16, 3, 3)
    case = await open_case(intake, cases, birth=birth, key=key)
    await change(
        cases,
        case,
        "POST",
        "/episodes",
        episode(
            "school",
            "enrollment",
            TODAY - 300 * timedelta(days=1),
            TODAY - timedelta(days=2),
            "dropped_out",
        ),
    )

    async def proposed() -> Any:
        found = await handover.get("/v1/handovers", params={"case_id": case["id"]}, headers=SENDER)
        return found.json()

    [proposal] = await eventually(proposed)
    return case, proposal


async def post(
    handover: Any, handover_id: str, step: str, body: Any = None, who: dict[str, str] = SENDER
) -> Any:
    return await handover.post(f"/v1/handovers/{handover_id}/{step}", json=body, headers=who)


async def consent_and_offer(
    handover: Any, handover_id: str, partner: str = "vdab", shared_fields: tuple[str, ...] = ()
) -> Any:
    """The young person (16) consents for `partner`; the sender offers. The offer's answer."""
    consent = {
        "given_by": "youth",
        "date": TODAY.isoformat(),
        "partner_id": partner,
        "shared_fields": list(shared_fields),
    }
    assert (await post(handover, handover_id, "consent", consent)).status_code == 200
    offered = await post(handover, handover_id, "offer", {"partner_id": partner})
    assert offered.status_code == 200, offered.text
    return offered


async def partner_entries(redis: aioredis.Redis, partner: str) -> list[dict[str, Any]]:
    return [json.loads(f[b"event"]) for _, f in await redis.xrange(partner_stream(partner))]


async def test_the_whole_warm_handover(redis: aioredis.Redis) -> None:
    async with (
        running("intake") as intake,
        running("cases") as cases,
        running("handover") as handover,
    ):
        await make_partners(handover)
        case, proposal = await early_leaver(intake, cases, handover)
        hid = proposal["id"]
        assert proposal["status"] == "proposed"
        assert proposal["sender_org"] == "clb-gent"
        assert proposal["responsible"] == "sender"
        assert [s["action"] for s in proposal["next_steps"]] == ["consent", "cancel"]

        early = await post(handover, hid, "offer", {"partner_id": "vdab"})
        assert early.status_code == 409
        assert "allowed next steps: consent" in early.json()["detail"]

        consent = {
            "given_by": "youth",
            "date": TODAY.isoformat(),
            "partner_id": "vdab",
            "shared_fields": ["given_name", "family_name"],
        }
        assert (await post(handover, hid, "consent", consent)).status_code == 200
        other = await post(handover, hid, "offer", {"partner_id": "syntra"})
        assert other.status_code == 409  # the consent names vdab
        offered = await post(handover, hid, "offer", {"partner_id": "vdab"})
        assert offered.status_code == 200
        assert offered.json()["respond_by"] == (TODAY + timedelta(days=5)).isoformat()

        # The young person is on the bridge: once cases has the event, it refuses to close.
        async def cases_knows() -> bool:
            async with cases.app.state.runtime.db.reading() as session:
                found = await session.scalar(
                    text("SELECT status FROM case_handovers WHERE handover_id = :h"), {"h": hid}
                )
            return found == "offered"

        await eventually(cases_knows)
        now = (await cases.get(f"/v1/cases/{case['id']}", headers=SENDER)).json()
        closing = await change(cases, now, "POST", "/close")
        assert closing.status_code == 409
        assert "on the bridge" in closing.json()["detail"]

        await handover.app.state.runtime.relay.flush()
        [offer] = await partner_entries(redis, "vdab")
        assert offer["type"] == "brug.partner.offer.v1"
        assert set(offer["data"]) == {
            "handover_id",
            "destination",
            "goal",
            "province",
            "age_band",
            "respond_by",
        }
        assert offer["data"]["age_band"] == "12-17"

        partner_view = (await handover.get(f"/v1/handovers/{hid}", headers=VDAB)).json()
        assert partner_view["shared_fields"] == []
        assert "case_id" not in partner_view
        assert (await handover.get(f"/v1/handovers/{hid}", headers=SYNTRA)).status_code == 404
        assert (await post(handover, hid, "accept", who=SYNTRA)).status_code == 404
        assert (await post(handover, hid, "accept", who=SENDER)).status_code == 409

        disclosure = f"/v1/disclosures/{hid}"
        assert (await intake.get(disclosure, headers=VDAB)).status_code == 404  # not yet
        assert (await post(handover, hid, "accept", who=VDAB)).status_code == 200
        accepted = (await handover.get(f"/v1/handovers/{hid}", headers=VDAB)).json()
        assert accepted["shared_fields"] == ["given_name", "family_name"]

        async def disclosed() -> Any:
            response = await intake.get(disclosure, headers=VDAB)
            return response.json() if response.status_code == 200 else None

        fields = (await eventually(disclosed))["fields"]
        assert fields == {"given_name": "Kind-r", "family_name": "Test"}  # only what was consented
        assert (await intake.get(disclosure, headers=SYNTRA)).status_code == 404
        assert (await intake.get(disclosure, headers=SENDER)).status_code == 403
        meeting = {
            "date": (TODAY + timedelta(days=3)).isoformat(),
            "participants": ["sender", "receiver", "young_person"],
        }
        bad_meeting = {**meeting, "participants": ["sender", "receiver", "receiver"]}
        assert (await post(handover, hid, "meeting", bad_meeting, VDAB)).status_code == 422
        assert (await post(handover, hid, "meeting", meeting, VDAB)).status_code == 200
        early_start = {"start_date": (TODAY + timedelta(days=1)).isoformat()}
        too_early = await post(handover, hid, "start", early_start, VDAB)
        assert too_early.status_code == 422
        assert too_early.json()["detail"][0]["field"] == "start_date"
        assert (await post(handover, hid, "start", early_start, SENDER)).status_code == 409
        start = {"start_date": (TODAY + timedelta(days=7)).isoformat()}
        started = await post(handover, hid, "start", start, VDAB)
        assert started.status_code == 200

        sender_view = (await handover.get(f"/v1/handovers/{hid}", headers=SENDER)).json()
        assert sender_view["status"] == "started"
        assert sender_view["responsible"] == "partner"
        assert sender_view["responsible_org"] == "vdab"
        assert [s["action"] for s in sender_view["next_steps"]] == [
            "complete",
            "interrupt",
            "withdraw_consent",
        ]

        async def with_work_episode() -> Any:
            now = (await cases.get(f"/v1/cases/{case['id']}", headers=SENDER)).json()
            work = [e for e in now["episodes"] if e["domain"] == "work"]
            return now if work else None

        now = await eventually(with_work_episode)
        [work] = [e for e in now["episodes"] if e["domain"] == "work"]
        assert (work["kind"], work["provider_org"]) == ("training", "vdab")
        assert (await post(handover, hid, "complete", who=VDAB)).status_code == 200
        await handover.app.state.runtime.relay.flush()
    updates = [e["data"] for e in await partner_entries(redis, "vdab")][1:]
    assert [u["status"] for u in updates] == [
        "accepted",
        "meeting_scheduled",
        "started",
        "completed",
    ]
    assert updates[0]["shared_fields"] == ["given_name", "family_name"]
    assert updates[0]["disclosure"] == f"intake:/v1/disclosures/{hid}"
    handover_events = [
        json.loads(f[b"event"])["type"] for _, f in await redis.xrange(service_stream("handover"))
    ]
    assert handover_events == [
        "brug.handover.proposed.v1",
        "brug.handover.consented.v1",
        "brug.handover.offered.v1",
        "brug.handover.accepted.v1",
        "brug.handover.meeting_scheduled.v1",
        "brug.handover.started.v1",
        "brug.handover.completed.v1",
    ]


async def test_decline_then_another_partner_and_expiry_by_sweep(redis: aioredis.Redis) -> None:
    async with (
        running("intake") as intake,
        running("cases") as cases,
        running("handover") as handover,
    ):
        await make_partners(handover)
        _, proposal = await early_leaver(intake, cases, handover)
        hid = proposal["id"]
        consent = {"given_by": "youth", "date": TODAY.isoformat(), "partner_id": "vdab"}
        await post(handover, hid, "consent", consent)
        await post(handover, hid, "offer", {"partner_id": "vdab"})
        declined = await post(handover, hid, "decline", {"reason": "no_capacity"}, VDAB)
        assert declined.json()["status"] == "declined"
        bad = await post(handover, hid, "decline", {"reason": "we do not like them"}, VDAB)
        assert bad.status_code == 422  # reasons are codes, never free text
        await post(handover, hid, "consent", {**consent, "partner_id": "syntra"})
        assert (await post(handover, hid, "offer", {"partner_id": "syntra"})).status_code == 200
        assert (await handover.get(f"/v1/handovers/{hid}", headers=VDAB)).status_code == 404

        on_time = (TODAY + timedelta(days=5)).isoformat()
        late = (TODAY + timedelta(days=6)).isoformat()
        assert (await handover.post(f"/v1/admin/sweep?as_of={on_time}", headers=ADMIN)).json()[
            "expired"
        ] == 0
        assert (await handover.post(f"/v1/admin/sweep?as_of={late}", headers=ADMIN)).json()[
            "expired"
        ] == 1
        assert (await handover.post(f"/v1/admin/sweep?as_of={late}", headers=ADMIN)).json()[
            "expired"
        ] == 0
        view = (await handover.get(f"/v1/handovers/{hid}", headers=SENDER)).json()
        assert view["status"] == "expired"
        assert view["responsible"] == "sender"
        too_late = await post(handover, hid, "accept", who=SYNTRA)
        assert too_late.status_code == 409
        await handover.app.state.runtime.relay.flush()
    events = [json.loads(f[b"event"]) for _, f in await redis.xrange(service_stream("handover"))]
    expired = [e for e in events if e["type"] == "brug.handover.expired.v1"]
    assert expired[0]["data"]["sender_org"] == "clb-gent"  # the sender is told


async def test_withdrawn_consent_stops_sharing_and_case_closing_cancels_proposals(
    redis: aioredis.Redis,
) -> None:
    async with (
        running("intake") as intake,
        running("cases") as cases,
        running("handover") as handover,
    ):
        await make_partners(handover)
        case, proposal = await early_leaver(intake, cases, handover)
        hid = proposal["id"]
        consent = {"given_by": "parents", "date": TODAY.isoformat(), "partner_id": "vdab"}
        wrong = await post(handover, hid, "consent", consent)
        assert wrong.status_code == 422  # a 16-year-old consents themself
        assert wrong.json()["detail"][0]["field"] == "given_by"
        ok = {**consent, "given_by": "youth", "shared_fields": ["given_name"]}
        await post(handover, hid, "consent", ok)
        await post(handover, hid, "offer", {"partner_id": "vdab"})
        await post(handover, hid, "accept", who=VDAB)
        disclosure = f"/v1/disclosures/{hid}"

        async def disclosed() -> bool:
            return (await intake.get(disclosure, headers=VDAB)).status_code == 200

        await eventually(disclosed)
        withdrawn = await post(handover, hid, "withdraw-consent")
        assert withdrawn.json()["status"] == "withdrawn"

        async def stopped() -> bool:
            return (await intake.get(disclosure, headers=VDAB)).status_code == 404

        await eventually(stopped)  # all further sharing stops
        assert (await handover.get(f"/v1/handovers/{hid}", headers=VDAB)).json()[
            "shared_fields"
        ] == []

        second = await handover.post(
            "/v1/handovers",
            json={"case_id": case["id"], "destination": "work", "goal": "job"},
            headers=SENDER,
        )
        assert second.status_code == 201
        stranger = await handover.post(
            "/v1/handovers",
            json={"case_id": case["id"], "destination": "work", "goal": "job"},
            headers=auth(org="caw-west"),
        )
        assert stranger.status_code == 404

        async def closable() -> Any:
            now = (await cases.get(f"/v1/cases/{case['id']}", headers=SENDER)).json()
            r = await change(cases, now, "POST", "/close")
            return r if r.status_code == 200 else None

        await eventually(closable)

        async def cancelled() -> Any:
            view = await handover.get(f"/v1/handovers/{second.json()['id']}", headers=SENDER)
            return view.json()["status"] == "cancelled"

        await eventually(cancelled)
        await handover.app.state.runtime.relay.flush()
    entries = await partner_entries(redis, "vdab")
    assert entries[0]["type"] == "brug.partner.offer.v1"
    updates = [e["data"]["status"] for e in entries[1:]]
    assert updates == ["accepted", "withdrawn"]


async def test_partners_are_managed_by_admins_and_read_by_case_workers() -> None:
    async with running("handover") as handover:
        body = {
            "partner_id": "syntra-west",
            "name": "Syntra West",
            "destinations": ["training"],
            "provinces": ["WVL"],
            "stream": False,
        }
        assert (await handover.post("/v1/partners", json=body, headers=ADMIN)).status_code == 422
        body["webhook"] = {"url": "https://partner.example/hooks", "secret": "whsec_" + "x" * 32}
        assert (await handover.post("/v1/partners", json=body, headers=SENDER)).status_code == 403
        assert (await handover.post("/v1/partners", json=body, headers=ADMIN)).status_code == 201
        assert (await handover.post("/v1/partners", json=body, headers=ADMIN)).status_code == 409
        listed = (await handover.get("/v1/partners", headers=SENDER)).json()
        assert listed[0]["webhook_url"] == "https://partner.example/hooks"
        assert "secret" not in json.dumps(listed)
        assert (await handover.get("/v1/partners", headers=VDAB)).status_code == 403
        assert (
            await handover.get("/v1/handovers", headers=auth(role="analyst"))
        ).status_code == 403
        metrics = await handover.get("/v1/handovers/metrics", headers=auth(role="analyst"))
        assert metrics.status_code == 200
        assert (await handover.get("/v1/handovers/metrics", headers=SENDER)).status_code == 403


async def test_two_steps_at_once_one_wins_and_the_other_changes_nothing(
    redis: aioredis.Redis,
) -> None:
    async with (
        running("intake") as intake,
        running("cases") as cases,
        running("handover") as handover,
    ):
        await make_partners(handover)
        _, proposal = await early_leaver(intake, cases, handover)
        hid = proposal["id"]
        offered = await consent_and_offer(handover, hid)
        version = offered.headers["ETag"]
        both = await asyncio.gather(
            handover.post(f"/v1/handovers/{hid}/accept", headers={**VDAB, "If-Match": version}),
            handover.post(
                f"/v1/handovers/{hid}/decline",
                json={"reason": "no_capacity"},
                headers={**VDAB, "If-Match": version},
            ),
        )
        codes = sorted(r.status_code for r in both)
        assert codes in ([200, 409], [200, 412]), [r.text for r in both]
        final = (await handover.get(f"/v1/handovers/{hid}", headers=SENDER)).json()
        winner = next(r for r in both if r.status_code == 200).json()
        assert final["status"] == winner["status"]
        assert final["version"] == int(version.strip('"')) + 1
        await handover.app.state.runtime.relay.flush()
    events = [
        json.loads(f[b"event"])["type"] for _, f in await redis.xrange(service_stream("handover"))
    ]
    assert len([e for e in events if e.endswith(("accepted.v1", "declined.v1"))]) == 1


async def test_sharing_stops_when_consent_is_withdrawn_after_the_start_or_the_handover_ends(
    redis: aioredis.Redis,
) -> None:
    async with (
        running("intake") as intake,
        running("cases") as cases,
        running("handover") as handover,
    ):
        await make_partners(handover)
        _, proposal = await early_leaver(intake, cases, handover)
        hid = proposal["id"]
        await consent_and_offer(handover, hid, shared_fields=("given_name", "birth_date"))
        await post(handover, hid, "accept", who=VDAB)
        await post(
            handover,
            hid,
            "meeting",
            {"date": TODAY.isoformat(), "participants": ["sender", "receiver", "young_person"]},
            VDAB,
        )
        await post(handover, hid, "start", {"start_date": TODAY.isoformat()}, VDAB)
        disclosure = f"/v1/disclosures/{hid}"

        async def shared() -> bool:
            return (await intake.get(disclosure, headers=VDAB)).status_code == 200

        await eventually(shared)
        withdrawn = await post(handover, hid, "withdraw-consent")
        assert withdrawn.status_code == 200
        assert withdrawn.json()["status"] == "started"  # the handover goes on...

        async def stopped() -> bool:
            return (await intake.get(disclosure, headers=VDAB)).status_code == 404

        await eventually(stopped)  # ...but nothing more is shared
