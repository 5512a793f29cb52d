"""Signals from blocked cases (SPEC section 7): thresholds, level, sector, suppression against
subtraction, the response loop, roles, and a rebuild equal to the live state."""

from __future__ import annotations

import csv
import io
import json
import random
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlmodel import select

from services.signals import rebuild
from services.signals.models import PastSignalResponse
from shared.db import Database
from shared.events import envelope as env
from shared.events.contracts import CaseBlocked, CaseOpened, CaseUnblocked, RouteTried
from shared.events.streams import service_stream
from shared.settings import get_settings
from tests.conftest import auth, running
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("brug_env")
TODAY = date.today()
ANALYST = auth(role="analyst", org="vlaamse-overheid")


class CaseEvents:
    """Publishes case events as the cases service would."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.redis = redis

    async def send(self, name: str, subject: str, data: Any) -> None:
        envelope = env.build(service="cases", name=name, subject=subject, data=data)
        await self.redis.xadd(service_stream("cases"), {"event": envelope.model_dump_json()})

    async def blocked_case(
        self,
        province: str,
        blockers: list[str],
        domains: list[str],
        *,
        band: str = "12-17",
        org: str = "clb-gent",
        days_ago: int = 20,
        refused_by: tuple[str, ...] = ("youth_care",),
    ) -> str:
        case_id = str(uuid.uuid4())
        await self.send(
            "case.opened",
            case_id,
            CaseOpened(
                case_id=case_id,
                person_ref=uuid.uuid4().hex * 2,
                province=province,
                age_band=band,
                registrant_org=org,
                opened_at=datetime.now(UTC),
            ),
        )
        await self.send(
            "case.blocked",
            case_id,
            CaseBlocked(
                case_id=case_id,
                province=province,
                age_band=band,
                blockers=blockers,
                domains=domains,
                routes_tried=[
                    RouteTried(
                        provider_kind=k, answer="refused", date=TODAY - timedelta(days=days_ago + 5)
                    )
                    for k in refused_by
                ],
                blocked_on=TODAY - timedelta(days=days_ago),
            ),
        )
        return case_id

    async def reblock(
        self, case_id: str, province: str, blockers: list[str], domains: list[str]
    ) -> None:
        """The case, still blocked, is blocked again today for other reasons."""
        await self.send(
            "case.blocked",
            case_id,
            CaseBlocked(
                case_id=case_id,
                province=province,
                age_band="12-17",
                blockers=blockers,
                domains=domains,
                routes_tried=[RouteTried(provider_kind="caw", answer="refused", date=TODAY)],
                blocked_on=TODAY,
            ),
        )

    async def unblock(self, case_id: str) -> None:
        await self.send(
            "case.unblocked", case_id, CaseUnblocked(case_id=case_id, unblocked_on=TODAY)
        )


async def signals_now(client: Any) -> list[dict[str, Any]]:
    return list((await client.get("/v1/signals", headers=ANALYST)).json())


async def settled(client: Any, predicate: Any) -> list[dict[str, Any]]:
    async def check() -> Any:
        found = await signals_now(client)
        return found if predicate(found) else None

    return list(await eventually(check))


async def all_consumed(redis: aioredis.Redis, group: str) -> None:
    """Until the group has read and applied every case event (nothing after it can change
    the signals, so what is read next is read the same everywhere)."""

    async def done() -> bool:
        groups = await redis.xinfo_groups(service_stream("cases"))
        mine = [g for g in groups if g["name"].decode() == group]
        return bool(mine) and mine[0]["lag"] == 0 and mine[0]["pending"] == 0

    await eventually(done, timeout=30)


def open_signals(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in found if s["status"] != "resolved"]


async def test_a_signal_is_raised_at_k_and_resolved_below(redis: aioredis.Redis) -> None:
    cases = CaseEvents(redis)
    async with running("signals") as signals:
        ids = [await cases.blocked_case("ANT", ["waiting_list"], ["youth_care"]) for _ in range(4)]
        await eventually(lambda: _consumed(redis, 8))
        assert open_signals(await signals_now(signals)) == []
        ids.append(await cases.blocked_case("ANT", ["waiting_list"], ["youth_care"]))
        [signal] = open_signals(await settled(signals, lambda f: open_signals(f)))
        assert (signal["province"], signal["blocker"], signal["domain"]) == (
            "ANT",
            "waiting_list",
            "youth_care",
        )
        assert signal["case_count"] == {"value": 5, "suppressed": False}
        assert (signal["level"], signal["sector"], signal["status"]) == (
            "regional",
            "welzijn",
            "open",
        )
        assert signal["median_days_blocked"] == 20
        assert signal["refusals_by_provider_kind"] == {
            "youth_care": {"value": 5, "suppressed": False}
        }
        await cases.unblock(ids[0])
        await eventually(lambda: _consumed(redis, 11))
        # Unblocked today, it was still blocked within the window: the signal holds...
        assert open_signals(await signals_now(signals))
        # ...until the window has moved past its last blocked day.
        later = (TODAY + timedelta(days=181)).isoformat()
        settle = await signals.post(
            f"/v1/admin/settle?as_of={later}", headers=auth(role="admin", org="ops")
        )
        assert settle.json()["resolved"] == 1
        [resolved] = await signals_now(signals)
        assert resolved["status"] == "resolved"
        assert resolved["case_count"]["suppressed"]
        await signals.app.state.runtime.relay.flush()
    published = [json.loads(f[b"event"]) for _, f in await redis.xrange(service_stream("signals"))]
    assert [e["type"] for e in published] == ["brug.signal.raised.v1", "brug.signal.resolved.v1"]
    text = json.dumps(published)
    assert not any(case_id in text for case_id in ids)
    assert published[1]["data"]["case_count"] is None


async def published_events(redis: aioredis.Redis) -> list[dict[str, Any]]:
    return [json.loads(f[b"event"]) for _, f in await redis.xrange(service_stream("signals"))]


async def settle_on(signals: Any, day: date) -> dict[str, Any]:
    """Settle as of `day`, as the service does every few hours for today."""
    response = await signals.post(
        f"/v1/admin/settle?as_of={day.isoformat()}", headers=auth(role="admin", org="ops")
    )
    assert response.status_code == 200
    return dict(response.json())


async def _consumed(redis: aioredis.Redis, n: int) -> bool:
    groups = await redis.xinfo_groups(service_stream("cases"))
    return any(g["entries-read"] and g["entries-read"] >= n and g["pending"] == 0 for g in groups)


async def test_level_flemish_from_three_provinces_and_the_sector_table(
    redis: aioredis.Redis,
) -> None:
    cases = CaseEvents(redis)
    async with running("signals") as signals:
        for province in ("ANT", "LIM", "OVL"):
            for _ in range(5):
                await cases.blocked_case(province, ["capacity_shortage"], ["youth_care"])
        for _ in range(5):
            await cases.blocked_case("WVL", ["refused_by_school"], ["school"])
            await cases.blocked_case("VBR", ["refused_by_provider"], ["school"])
        found = await settled(signals, lambda f: len(open_signals(f)) == 5)
        pages, url = [], "/v1/signals?limit=2&level=flemish"
        while url:
            page = await signals.get(url, headers=ANALYST)
            pages.append([s["id"] for s in page.json()])
            link = page.headers.get("Link")
            url = link[1 : link.index(">")] if link else ""
        assert [len(p) for p in pages] == [2, 1]
        assert sorted(i for p in pages for i in p) == sorted(
            s["id"] for s in found if s["level"] == "flemish"
        )
        await signals.post(f"/v1/signals/{pages[0][0]}/acknowledge", headers=ANALYST)
        acknowledged = await signals.get("/v1/signals?status=acknowledged", headers=ANALYST)
        assert [s["id"] for s in acknowledged.json()] == [pages[0][0]]
        still_open = await signals.get("/v1/signals?status=open", headers=ANALYST)
        assert len(still_open.json()) == 4
    by_cell = {(s["province"], s["blocker"]): s for s in found}
    for province in ("ANT", "LIM", "OVL"):
        assert by_cell[(province, "capacity_shortage")]["level"] == "flemish"
    assert by_cell[("WVL", "refused_by_school")]["level"] == "regional"
    assert by_cell[("WVL", "refused_by_school")]["sector"] == "onderwijs"
    assert by_cell[("VBR", "refused_by_provider")]["sector"] == "both"
    assert by_cell[("ANT", "capacity_shortage")]["sector"] == "welzijn"


async def test_no_suppressed_count_can_be_recovered_by_subtraction(
    redis: aioredis.Redis,
) -> None:
    """Adversarial: random populations; for every signal, the published total minus every
    published part either equals zero with nothing hidden, or hides at least k."""
    rng = random.Random(2026)
    cases = CaseEvents(redis)
    k = get_settings().signal_min_cases
    bands = ["0-5", "6-11", "12-17", "18+"]
    kinds = ["youth_care", "mental_health", "school", "ocmw", "housing"]
    async with running("signals") as signals:
        for _ in range(120):
            await cases.blocked_case(
                rng.choice(["ANT", "LIM"]),
                [rng.choice(["waiting_list", "transport"])],
                [rng.choice(["youth_care", "school"])],
                band=rng.choices(bands, weights=[1, 3, 8, 2])[0],
                refused_by=tuple(rng.sample(kinds, rng.randint(0, 3))),
            )
        await all_consumed(redis, "signals")
        found = open_signals(await signals_now(signals))
        csv_text = (await signals.get("/v1/signals/export.csv", headers=ANALYST)).text
        html = (await signals.get("/dashboard", headers=ANALYST)).text
    assert found
    # No total over cells is published: the dashboard's chart by blocker adds up the published
    # case counts only, so the cells below k stay out of every sum.
    by_blocker: dict[str, int] = {}
    for signal in found:
        by_blocker[signal["blocker"]] = (
            by_blocker.get(signal["blocker"], 0) + signal["case_count"]["value"]
        )
    for blocker, total in by_blocker.items():
        assert f"<title>{blocker}: {total}</title>" in html
    for signal in found:
        total = signal["case_count"]["value"]
        assert total is not None
        assert total >= k
        for parts in (signal["age_bands"], signal["refusals_by_provider_kind"]):
            published = [p["value"] for p in parts.values() if not p["suppressed"]]
            hidden = [name for name, p in parts.items() if p["suppressed"]]
            assert all(v >= k for v in published)
            if parts is signal["age_bands"] and hidden:
                assert total - sum(published) >= k, signal  # the hidden ones stay >= k together
            if parts is signal["age_bands"] and not hidden:
                assert sum(published) == total
            if parts is signal["refusals_by_provider_kind"]:
                assert not hidden  # left out, not shown suppressed (which would say nonzero)
        previous = signal["previous_count"]
        assert previous["suppressed"] or previous["value"] >= k
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert len(rows) == len(found)
    for row in rows:
        for column in (
            "case_count",
            "previous_count",
            "age_0-5",
            "age_6-11",
            "age_12-17",
            "age_18+",
        ):
            assert row[column] == "suppressed" or int(row[column]) >= k


async def test_government_answers_and_the_case_workers_behind_read_it(
    redis: aioredis.Redis,
) -> None:
    cases = CaseEvents(redis)
    async with running("signals") as signals:
        mine = await cases.blocked_case("LIM", ["diagnosis_wait"], ["health"], org="caw-lim")
        others = [
            await cases.blocked_case("LIM", ["diagnosis_wait"], ["health"], org=f"clb-{i}")
            for i in range(4)
        ]
        [signal] = open_signals(await settled(signals, lambda f: open_signals(f)))
        sid = signal["id"]
        ack = await signals.post(f"/v1/signals/{sid}/acknowledge", headers=ANALYST)
        assert ack.json()["status"] == "acknowledged"
        bad = await signals.post(
            f"/v1/signals/{sid}/respond", json={"response": "maybe", "text": "x"}, headers=ANALYST
        )
        assert bad.status_code == 422
        answer = {"response": "addressed", "text": "Extra diagnostic capacity in Limburg."}
        responded = await signals.post(f"/v1/signals/{sid}/respond", json=answer, headers=ANALYST)
        assert responded.json()["government_response"]["response"] == "addressed"
        seen = await signals.get(f"/v1/signals/for-case/{mine}", headers=auth(org="caw-lim"))
        assert seen.status_code == 200
        [behind] = seen.json()
        assert behind["government_response"]["text"] == answer["text"]
        assert not any(o in seen.text for o in others)  # no other case is named
        stranger = await signals.get(f"/v1/signals/for-case/{mine}", headers=auth(org="x"))
        assert stranger.status_code == 404
        assert (
            await signals.post("/v1/signals/nope/acknowledge", headers=ANALYST)
        ).status_code == 404


async def test_roles_case_workers_and_partners_get_403_on_signals() -> None:
    async with running("signals") as signals:
        for headers in (auth(), auth(role="partner", org="vdab"), auth(role="admin")):
            for path in ("/v1/signals", "/v1/signals/export.csv", "/dashboard"):
                assert (await signals.get(path, headers=headers)).status_code == 403, path
        assert (await signals.get("/v1/signals", headers=ANALYST)).status_code == 200
    async with running("cases") as cases:
        assert (await cases.get("/v1/cases", headers=ANALYST)).status_code == 403


async def test_a_rebuild_from_the_stream_equals_the_live_state(
    redis: aioredis.Redis, tmp_path: Any
) -> None:
    rng = random.Random(7)
    cases = CaseEvents(redis)
    async with running("signals") as signals:
        ids = []
        for _ in range(80):
            ids.append(
                await cases.blocked_case(
                    rng.choice(["ANT", "LIM", "OVL"]),
                    rng.sample(["waiting_list", "transport", "capacity_shortage"], 2),
                    [rng.choice(["youth_care", "school"])],
                    days_ago=rng.randint(0, 300),
                    band=rng.choice(["6-11", "12-17"]),
                )
            )
        for case_id in rng.sample(ids, 15):
            await cases.unblock(case_id)
        await eventually(lambda: _consumed(redis, 175), timeout=20)
        live = signals.app.state.runtime.db
        fresh = Database(f"sqlite+aiosqlite:///{tmp_path}/fresh.db")
        replayed = await rebuild.replay(redis)
        await rebuild.write(fresh, replayed, as_of=TODAY, k=get_settings().signal_min_cases)
        assert replayed.events == 175
        assert await rebuild.differences(live, fresh) == []
        await fresh.dispose()
        assert open_signals(await signals_now(signals))  # there was something to compare


async def test_the_dashboard_shows_open_signals_as_charts(redis: aioredis.Redis) -> None:
    cases = CaseEvents(redis)
    async with running("signals") as signals:
        for _ in range(5):
            await cases.blocked_case("BRU", ["financial_barrier"], ["material"])
        await settled(signals, lambda f: open_signals(f))
        page = await signals.get("/dashboard", headers=ANALYST)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.text.count('class="chart"') == 2
    assert 'class="bar"' in page.text
    assert "financial_barrier" in page.text


async def test_a_count_that_changes_above_k_updates_and_unblocked_cases_resolve(
    redis: aioredis.Redis,
) -> None:
    """A sixth case updates the signal. Unblocked today, two cases were still blocked within
    the window; once the window has passed their last blocked day the signal falls to four and
    resolves, while a signal of cases still blocked holds through the same move."""
    cases = CaseEvents(redis)
    async with running("signals") as signals:
        ids = [await cases.blocked_case("VBR", ["capacity_shortage"], ["family"]) for _ in range(5)]
        for _ in range(5):
            await cases.blocked_case("VBR", ["transport"], ["family"])
        found = await settled(signals, lambda f: len(open_signals(f)) == 2)
        [sid] = [s["id"] for s in found if s["blocker"] == "capacity_shortage"]
        [control] = [s["id"] for s in found if s["blocker"] == "transport"]
        ids.append(await cases.blocked_case("VBR", ["capacity_shortage"], ["family"]))
        await settled(
            signals, lambda f: [s["case_count"]["value"] for s in f if s["id"] == sid] == [6]
        )
        for case_id in ids[:2]:
            await cases.unblock(case_id)
        await eventually(lambda: _consumed(redis, 24))
        today = {s["id"]: s for s in await signals_now(signals)}
        assert today[sid]["case_count"]["value"] == 6
        assert (await settle_on(signals, TODAY + timedelta(days=181)))["resolved"] == 1
        later = {s["id"]: s for s in await signals_now(signals)}
        assert later[sid]["status"] == "resolved"
        assert later[sid]["case_count"] == {"value": None, "suppressed": True}
        assert later[control]["status"] == "open"
        assert later[control]["case_count"]["value"] == 5
        await signals.app.state.runtime.relay.flush()
    changes = [
        (e["type"], e["data"]["case_count"], e["data"]["status"])
        for e in await published_events(redis)
        if e["data"]["signal_id"] == sid
    ]
    assert changes == [
        ("brug.signal.raised.v1", 5, "open"),
        ("brug.signal.updated.v1", 6, "open"),
        ("brug.signal.resolved.v1", None, "resolved"),
    ]


async def test_a_signal_raised_again_starts_open_without_the_old_answer(
    redis: aioredis.Redis,
) -> None:
    cases = CaseEvents(redis)
    async with running("signals") as signals:
        ids = [
            await cases.blocked_case("LIM", ["diagnosis_wait"], ["health"], org="caw-lim")
            for _ in range(5)
        ]
        [signal] = open_signals(await settled(signals, lambda f: open_signals(f)))
        sid = signal["id"]
        answer = {"response": "addressed", "text": "Extra diagnostic capacity in Limburg."}
        await signals.post(f"/v1/signals/{sid}/respond", json=answer, headers=ANALYST)
        await cases.unblock(ids[0])
        await eventually(lambda: _consumed(redis, 11))
        assert (await settle_on(signals, TODAY + timedelta(days=181)))["resolved"] == 1
        resolved = (await signals.get(f"/v1/signals/{sid}", headers=ANALYST)).json()
        assert resolved["status"] == "resolved"
        assert resolved["government_response"]["response"] == "addressed"  # to that raising
        # As of today the five count again: the same cell, raised again, a new question.
        assert (await settle_on(signals, TODAY))["raised"] == 1
        raised = (await signals.get(f"/v1/signals/{sid}", headers=ANALYST)).json()
        assert raised["status"] == "open"
        assert raised["government_response"] is None
        listed = await signals.get("/v1/signals?status=open", headers=ANALYST)
        assert [s["id"] for s in listed.json()] == [sid]
        assert (await signals.get("/v1/signals?status=acknowledged", headers=ANALYST)).json() == []
        behind = await signals.get(f"/v1/signals/for-case/{ids[1]}", headers=auth(org="caw-lim"))
        assert [s["government_response"] for s in behind.json()] == [None]
        [row] = csv.DictReader(
            io.StringIO((await signals.get("/v1/signals/export.csv", headers=ANALYST)).text)
        )
        assert (row["status"], row["government_response"]) == ("open", "")
        acknowledged = await signals.post(f"/v1/signals/{sid}/acknowledge", headers=ANALYST)
        assert acknowledged.json()["status"] == "acknowledged"
        assert acknowledged.json()["government_response"]["response"] is None
        async with signals.app.state.runtime.db.reading() as session:
            [past] = list(await session.exec(select(PastSignalResponse)))
        assert (past.signal_id, past.response, past.response_text) == (
            sid,
            "addressed",
            answer["text"],
        )


async def test_a_case_blocked_again_for_another_reason_still_counts_where_it_was_blocked(
    redis: aioredis.Redis, tmp_path: Any
) -> None:
    """Blocked on a waiting list for twenty days, then (still blocked) for transport: in the
    window it was blocked in both cells, so the waiting-list signal keeps its five cases."""
    cases = CaseEvents(redis)
    async with running("signals") as signals:
        ids = [await cases.blocked_case("ANT", ["waiting_list"], ["youth_care"]) for _ in range(5)]
        [signal] = open_signals(await settled(signals, lambda f: open_signals(f)))
        await cases.reblock(ids[0], "ANT", ["transport"], ["youth_care"])
        await eventually(lambda: _consumed(redis, 11))
        [still] = open_signals(await signals_now(signals))
        assert still["id"] == signal["id"]
        assert still["case_count"] == {"value": 5, "suppressed": False}
        assert still["median_days_blocked"] == 20
        fresh = Database(f"sqlite+aiosqlite:///{tmp_path}/fresh.db")
        replayed = await rebuild.replay(redis)
        await rebuild.write(fresh, replayed, as_of=TODAY, k=get_settings().signal_min_cases)
        assert await rebuild.differences(signals.app.state.runtime.db, fresh) == []
        await fresh.dispose()


async def test_refusals_count_cases_and_leave_out_kinds_below_k(redis: aioredis.Redis) -> None:
    """Two cases each turned down three times by an OCMW are two cases: below k, so the OCMW
    is not listed (six routes would have been), nor shown as a suppressed, hence nonzero, count."""
    cases = CaseEvents(redis)
    async with running("signals") as signals:
        for _ in range(3):
            await cases.blocked_case("OVL", ["no_suitable_offer"], ["housing"])
        for _ in range(2):
            await cases.blocked_case(
                "OVL",
                ["no_suitable_offer"],
                ["housing"],
                refused_by=("youth_care", "ocmw", "ocmw", "ocmw"),
            )
        [signal] = open_signals(await settled(signals, lambda f: open_signals(f)))
    assert signal["refusals_by_provider_kind"] == {"youth_care": {"value": 5, "suppressed": False}}
