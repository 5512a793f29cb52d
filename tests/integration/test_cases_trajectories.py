"""Trajectories over HTTP (SPEC section 5): episodes, breaks opening and resolving, versions,
access, block/unblock/close, the sweep, and the events they publish."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import event

from tests.conftest import auth, running
from tests.integration.cases_helpers import case_events, change, episode, open_case
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("brug_env")
TODAY = date.today()
DAY = timedelta(days=1)


def years_ago(years: int, days: int = 0) -> date:
    return date(TODAY.year - years, TODAY.month, min(TODAY.day, 28)) - timedelta(days=days)


def open_rules(case: dict[str, Any]) -> list[str]:
    return sorted(b["rule"] for b in case["open_breaks"])


async def flush(client: Any) -> None:
    await client.app.state.runtime.relay.flush()


async def test_a_school_gap_opens_when_the_enrolment_ends_and_resolves_with_a_new_school(
    redis: aioredis.Redis,
) -> None:
    async with running("intake") as intake, running("cases") as cases:
        case = await open_case(intake, cases, birth=years_ago(10))
        start = TODAY - timedelta(days=200)
        r = await change(cases, case, "POST", "/episodes", episode("school", "enrollment", start))
        assert r.status_code == 201, r.text
        [enrolment] = case["episodes"]
        r = await change(
            cases,
            case,
            "POST",
            f"/episodes/{enrolment['id']}/end",
            {"end_date": (TODAY - 5 * DAY).isoformat(), "outcome": "moved"},
        )
        assert r.status_code == 200, r.text
        assert open_rules(case) == ["school_gap"]
        gap = case["open_breaks"][0]
        assert gap["severity"] == "critical"
        assert gap["opened_on"] == (TODAY - 4 * DAY).isoformat()
        assert gap["episode_ids"] == [enrolment["id"]]

        r = await change(
            cases,
            case,
            "POST",
            "/episodes",
            episode("school", "enrollment", TODAY - DAY, provider="school-b"),
        )
        assert open_rules(case) == []
        breaks = (await cases.get(f"/v1/cases/{case['id']}/breaks", headers=auth())).json()
        assert [(b["rule"], b["status"], b["resolved_on"]) for b in breaks] == [
            ("school_gap", "resolved", TODAY.isoformat())
        ]
        assert "school-b" in case["involved_orgs"]  # the provider is now involved
        await flush(cases)
    types = [e["type"] for e in await case_events(redis, case["id"])]
    assert "brug.case.break_opened.v1" in types
    assert "brug.case.break_resolved.v1" in types
    assert types.index("brug.case.break_opened.v1") < types.index("brug.case.break_resolved.v1")


async def test_residential_care_the_week_schooling_stopped(redis: aioredis.Redis) -> None:
    async with running("intake") as intake, running("cases") as cases:
        case = await open_case(intake, cases, birth=years_ago(14))
        ended = TODAY - 10 * DAY
        await change(
            cases,
            case,
            "POST",
            "/episodes",
            episode("school", "enrollment", TODAY - 300 * DAY, ended, "interrupted"),
        )
        await change(
            cases,
            case,
            "POST",
            "/episodes",
            episode("youth_care", "residential", TODAY - 5 * DAY, provider="vzw-x"),
        )
        assert open_rules(case) == ["measure_interrupts_schooling", "school_gap"]
        await change(
            cases,
            case,
            "POST",
            "/episodes",
            episode("school", "special_education", TODAY, provider="school-c"),
        )
        assert open_rules(case) == []


async def test_repeated_exclusion_stays_until_a_case_worker_closes_it() -> None:
    async with running("intake") as intake, running("cases") as cases:
        case = await open_case(intake, cases, birth=years_ago(8))
        await change(
            cases,
            case,
            "POST",
            "/episodes",
            episode(
                "school", "temporary_exclusion", TODAY - 90 * DAY, TODAY - 87 * DAY, "completed"
            ),
        )
        await change(
            cases,
            case,
            "POST",
            "/episodes",
            episode("school", "temporary_exclusion", TODAY - 2 * DAY),
        )
        assert open_rules(case) == ["repeated_exclusion"]
        [brk] = case["open_breaks"]
        gap_free = await change(cases, case, "POST", f"/breaks/{brk['id']}/close")
        assert gap_free.status_code == 200
        assert open_rules(case) == []
        again = await change(cases, case, "POST", f"/breaks/{brk['id']}/close")
        assert again.status_code == 409


async def test_support_ended_without_followup_through_the_sweep() -> None:
    async with running("intake") as intake, running("cases") as cases:
        case = await open_case(intake, cases, birth=years_ago(11))
        ended = TODAY - 10 * DAY
        await change(
            cases,
            case,
            "POST",
            "/episodes",
            episode(
                "family",
                "parenting_support",
                TODAY - 100 * DAY,
                ended,
                "interrupted",
                provider="caw-oost",
            ),
        )
        await change(cases, case, "PUT", "/key-worker", {"org": "clb-gent", "worker": "w-7"})
        assert open_rules(case) == []  # 30 days have not passed
        admin = auth(role="admin", org="brug-ops")
        as_of = (ended + 30 * DAY).isoformat()
        first = await cases.post(f"/v1/admin/sweep?as_of={as_of}", headers=admin)
        assert first.status_code == 200
        assert first.json()["opened"] >= 1
        second = await cases.post(f"/v1/admin/sweep?as_of={as_of}", headers=admin)
        assert second.json()["opened"] == second.json()["resolved"] == 0
        now = (await cases.get(f"/v1/cases/{case['id']}", headers=auth())).json()
        assert open_rules(now) == ["support_ended_without_followup"]
        not_admin = await cases.post(f"/v1/admin/sweep?as_of={as_of}", headers=auth())
        assert not_admin.status_code == 403


async def test_no_key_worker_and_transition_found_by_the_sweep_and_mended_over_http() -> None:
    async with running("intake") as intake, running("cases") as cases:
        birth = years_ago(12) + 30 * DAY  # turns 12 in 30 days
        case = await open_case(intake, cases, birth=birth)
        admin = auth(role="admin", org="brug-ops")
        later = (TODAY + 15 * DAY).isoformat()
        await cases.post(f"/v1/admin/sweep?as_of={later}", headers=admin)
        case = (await cases.get(f"/v1/cases/{case['id']}", headers=auth())).json()
        assert open_rules(case) == ["no_key_worker", "transition_without_plan"]
        await change(cases, case, "PUT", "/key-worker", {"org": "clb-gent", "worker": "w-1"})
        assert open_rules(case) == ["transition_without_plan"]
        await change(
            cases,
            case,
            "POST",
            "/episodes",
            episode("school", "enrollment", birth + timedelta(days=365 * 12 + 10)),
        )
        assert open_rules(case) == []


async def test_early_school_leaving_is_published_from_15(redis: aioredis.Redis) -> None:
    async with running("intake") as intake, running("cases") as cases:
        young = await open_case(intake, cases, birth=years_ago(14), key="y")
        older = await open_case(intake, cases, birth=years_ago(16), key="o")
        for case in (young, older):
            await change(
                cases,
                case,
                "POST",
                "/episodes",
                episode("school", "enrollment", TODAY - 300 * DAY, TODAY - DAY, "dropped_out"),
            )
        await flush(cases)
    young_types = {e["type"] for e in await case_events(redis, young["id"])}
    older_events = await case_events(redis, older["id"])
    assert "brug.case.early_school_leaving.v1" not in young_types
    [leaving] = [e for e in older_events if e["type"] == "brug.case.early_school_leaving.v1"]
    assert leaving["data"]["outcome"] == "dropped_out"
    assert leaving["data"]["sender_org"] == "clb-gent"
    assert leaving["data"]["age_band"] == "12-17"
    assert "birth_date" not in leaving["data"]


async def test_a_stale_version_gets_412_and_changes_nothing() -> None:
    async with running("intake") as intake, running("cases") as cases:
        case = await open_case(intake, cases, birth=years_ago(9))
        stale = dict(case)
        ok = await change(cases, case, "PUT", "/key-worker", {"org": "clb-gent", "worker": "a"})
        assert ok.status_code == 200
        lost = await change(cases, stale, "PUT", "/key-worker", {"org": "clb-gent", "worker": "b"})
        assert lost.status_code == 412
        missing = await cases.put(
            f"/v1/cases/{case['id']}/key-worker",
            json={"org": "clb-gent", "worker": "c"},
            headers=auth(),
        )
        assert missing.status_code == 428
        garbage = await cases.put(
            f"/v1/cases/{case['id']}/key-worker",
            json={"org": "clb-gent", "worker": "c"},
            headers={**auth(), "If-Match": "latest"},
        )
        assert garbage.status_code == 422
        now = (await cases.get(f"/v1/cases/{case['id']}", headers=auth())).json()
        assert now["key_worker"] == {"org": "clb-gent", "worker": "a"}
        assert now["version"] == case["version"]


async def test_two_case_workers_at_once_never_lose_an_update() -> None:
    async with running("intake") as intake, running("cases") as cases:
        case = await open_case(intake, cases, birth=years_ago(9))

        async def add(i: int) -> int:
            body = episode("leisure", "activity", TODAY - i * DAY, provider=f"club-{i}")
            for _ in range(50):
                current = (await cases.get(f"/v1/cases/{case['id']}", headers=auth())).json()
                response = await change(cases, current, "POST", "/episodes", body)
                if response.status_code == 201:
                    return 1
                assert response.status_code == 412, response.text
            return 0

        added = await asyncio.gather(*(add(i) for i in range(8)))
        final = (await cases.get(f"/v1/cases/{case['id']}", headers=auth())).json()
    assert sum(added) == 8
    assert len(final["episodes"]) == 8
    assert final["version"] == case["version"] + 8


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (episode("school", "residential", TODAY), "kind"),
        (episode("family", "parenting_support", TODAY, TODAY - DAY, "completed"), "end_date"),
        (episode("family", "parenting_support", TODAY, TODAY, None), "outcome"),
        ({**episode("work", "job", TODAY), "outcome": "completed"}, "outcome"),
        ({**episode("work", "job", TODAY), "domain": "space"}, "domain"),
        ({**episode("work", "job", TODAY), "colour": "red"}, "colour"),
    ],
)
async def test_bad_episodes_get_422_naming_the_field(body: dict[str, Any], field: str) -> None:
    async with running("intake") as intake, running("cases") as cases:
        case = await open_case(intake, cases, birth=years_ago(9))
        response = await change(cases, case, "POST", "/episodes", body)
    assert response.status_code == 422, response.text
    assert field in {d["field"] for d in response.json()["detail"]}


async def test_ending_an_episode_checks_its_dates_and_state() -> None:
    async with running("intake") as intake, running("cases") as cases:
        case = await open_case(intake, cases, birth=years_ago(9))
        await change(cases, case, "POST", "/episodes", episode("health", "therapy", TODAY))
        [ep] = case["episodes"]
        early = await change(
            cases,
            case,
            "POST",
            f"/episodes/{ep['id']}/end",
            {"end_date": (TODAY - DAY).isoformat(), "outcome": "completed"},
        )
        assert early.status_code == 422
        assert early.json()["detail"][0]["field"] == "end_date"
        unknown = await change(
            cases,
            case,
            "POST",
            "/episodes/nope/end",
            {"end_date": TODAY.isoformat(), "outcome": "completed"},
        )
        assert unknown.status_code == 404
        ok = await change(
            cases,
            case,
            "POST",
            f"/episodes/{ep['id']}/end",
            {"end_date": TODAY.isoformat(), "outcome": "completed"},
        )
        assert ok.status_code == 200
        twice = await change(
            cases,
            case,
            "POST",
            f"/episodes/{ep['id']}/end",
            {"end_date": TODAY.isoformat(), "outcome": "completed"},
        )
        assert twice.status_code == 409


async def test_block_unblock_and_close(redis: aioredis.Redis) -> None:
    async with running("intake") as intake, running("cases") as cases:
        case = await open_case(intake, cases, birth=years_ago(13))
        bad = await change(
            cases, case, "POST", "/block", {"blockers": ["moon_phase"], "domains": ["youth_care"]}
        )
        assert bad.status_code == 422
        assert "blockers.0" in {d["field"] for d in bad.json()["detail"]}
        block = {
            "blockers": ["waiting_list", "capacity_shortage"],
            "domains": ["youth_care"],
            "routes_tried": [
                {
                    "provider_org": "vzw-a",
                    "provider_kind": "youth_care",
                    "answer": "waiting_list",
                    "date": (TODAY - 20 * DAY).isoformat(),
                },
                {
                    "provider_org": "ziekenhuis-b",
                    "provider_kind": "mental_health",
                    "answer": "refused",
                    "date": (TODAY - 9 * DAY).isoformat(),
                },
            ],
            "note": "Moeder vraagt dringend hulp; wachtlijst van 9 maanden.",
        }
        assert (await change(cases, case, "POST", "/block", block)).status_code == 200
        assert case["status"] == "blocked"
        assert case["blockers"] == ["waiting_list", "capacity_shortage"]
        assert (await change(cases, case, "POST", "/unblock")).status_code == 200
        assert case["status"] == "open"
        assert (await change(cases, case, "POST", "/unblock")).status_code == 409
        assert (await change(cases, case, "POST", "/close")).status_code == 200
        assert case["status"] == "closed"
        assert (await change(cases, case, "POST", "/close")).status_code == 409
        late = await change(cases, case, "POST", "/episodes", episode("health", "therapy", TODAY))
        assert late.status_code == 409
        await flush(cases)
        timeline = (await cases.get(f"/v1/cases/{case['id']}/timeline", headers=auth())).json()
    changes = [t["change"] for t in timeline]
    assert changes[0] == "opened"
    assert ["blocked", "unblocked", "closed"] == [
        c for c in changes if c in ("blocked", "unblocked", "closed")
    ]
    assert all(t["actor_org"] in ("clb-gent", "brug") for t in timeline)
    events = await case_events(redis, case["id"])
    blocked = next(e for e in events if e["type"] == "brug.case.blocked.v1")
    assert blocked["data"]["routes_tried"][1] == {
        "provider_kind": "mental_health",
        "answer": "refused",
        "date": (TODAY - 9 * DAY).isoformat(),
    }
    assert "wachtlijst" not in str(events)  # the note stays in cases
    assert "vzw-a" not in str(blocked)  # which provider said no stays in cases too
    assert [e["type"] for e in events][-1] == "brug.case.closed.v1"


async def test_only_involved_organisations_read_or_change_a_case() -> None:
    async with running("intake") as intake, running("cases") as cases:
        case = await open_case(intake, cases, birth=years_ago(9))
        stranger = "caw-west"
        for method, path, body in [
            ("GET", "", None),
            ("GET", "/breaks", None),
            ("GET", "/timeline", None),
            ("POST", "/episodes", episode("health", "therapy", TODAY)),
            ("PUT", "/key-worker", {"org": stranger, "worker": "x"}),
            ("POST", "/block", {"blockers": ["other"], "domains": ["health"]}),
            ("POST", "/close", None),
        ]:
            response = await change(cases, dict(case), method, path, body, org=stranger)
            assert response.status_code == 404, (method, path)
        # An episode provided by another organisation involves it.
        await change(
            cases, case, "POST", "/episodes", episode("health", "therapy", TODAY, provider=stranger)
        )
        assert (
            await cases.get(f"/v1/cases/{case['id']}", headers=auth(org=stranger))
        ).status_code == 200
        for role in ("analyst", "partner", "admin"):
            response = await cases.get(f"/v1/cases/{case['id']}", headers=auth(role=role))
            assert response.status_code == 403


async def test_a_case_with_200_episodes_is_read_with_one_query_per_table() -> None:
    async with running("intake") as intake, running("cases") as cases:
        case = await open_case(intake, cases, birth=years_ago(15))
        db = cases.app.state.runtime.db  # type: ignore[attr-defined]
        async with db.transaction() as session:
            from sqlalchemy import insert

            from services.cases.models import EpisodeRow

            await session.execute(
                insert(EpisodeRow),
                [
                    {
                        "id": f"ep-{i:03d}",
                        "case_id": case["id"],
                        "domain": "leisure",
                        "kind": "activity",
                        "provider_org": "club",
                        "start_date": TODAY - i * DAY,
                        "created_at": datetime(2026, 1, 1, tzinfo=UTC),
                    }
                    for i in range(200)
                ],
            )
        statements: list[str] = []

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            statements.append(statement.split()[0].upper() + " " + statement)

        event.listen(db.engine.sync_engine, "before_cursor_execute", count)
        try:
            response = await cases.get(f"/v1/cases/{case['id']}", headers=auth())
        finally:
            event.remove(db.engine.sync_engine, "before_cursor_execute", count)
    assert len(response.json()["episodes"]) == 200
    # (the outbox relay polls in the background on the same engine: not part of the read)
    selects = [s for s in statements if s.startswith("SELECT") and "FROM outbox" not in s]
    # the case, its organisations, its episodes, its open breaks
    assert len(selects) == 4, selects


async def test_cases_are_filtered_by_status_and_open_breaks() -> None:
    async with running("intake") as intake, running("cases") as cases:
        quiet = await open_case(intake, cases, birth=years_ago(9), key="q")
        broken = await open_case(intake, cases, birth=years_ago(9, 40), key="b")
        await change(
            cases,
            broken,
            "POST",
            "/episodes",
            episode("school", "enrollment", TODAY - 100 * DAY, TODAY - 3 * DAY, "moved"),
        )
        await change(
            cases, quiet, "POST", "/block", {"blockers": ["transport"], "domains": ["leisure"]}
        )

        async def ids(**params: Any) -> set[str]:
            page = await cases.get("/v1/cases", params=params, headers=auth())
            return {c["id"] for c in page.json()["items"]}

        assert await ids(has_open_breaks="true") == {broken["id"]}
        assert await ids(has_open_breaks="false") == {quiet["id"]}
        assert await ids(status="blocked") == {quiet["id"]}
        assert await ids(status="open", province="VBR") == {broken["id"]}
        assert await ids(province="ANT") == set()
        bad = await cases.get("/v1/cases", params={"status": "lost"}, headers=auth())
        assert bad.status_code == 422
        await eventually(lambda: asyncio.sleep(0, True))
