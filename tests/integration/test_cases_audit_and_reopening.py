"""The audit log of cases (who read or changed which case), a reopened case whose breaks
come back, and a support break mended over HTTP."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from tests.conftest import auth, running
from tests.integration.cases_helpers import change, episode, open_case

pytestmark = pytest.mark.usefixtures("brug_env")
TODAY = date.today()
DAY = timedelta(days=1)
ADMIN = auth(role="admin", org="brug-ops")


def born(years: int) -> date:
    return date(TODAY.year - years, TODAY.month, min(TODAY.day, 28))


def open_rules(case: dict[str, Any]) -> list[str]:
    return sorted(b["rule"] for b in case["open_breaks"])


async def test_every_read_and_change_of_a_case_is_audited() -> None:
    async with running("intake") as intake, running("cases") as cases:
        case = await open_case(intake, cases, birth=born(10))  # reads it once
        await change(cases, case, "PUT", "/key-worker", {"org": "clb-gent", "worker": "w-1"})
        await cases.get(f"/v1/cases/{case['id']}/breaks", headers=auth())
        await cases.get(f"/v1/cases/{case['id']}/timeline", headers=auth())
        stranger = await cases.get(f"/v1/cases/{case['id']}", headers=auth(org="caw-west"))
        assert stranger.status_code == 404
        async with cases.app.state.runtime.db.reading() as session:
            rows = (
                await session.execute(
                    text(
                        "SELECT actor_org, action FROM audit_log "
                        "WHERE resource_type = 'case' AND resource_id = :id ORDER BY id"
                    ),
                    {"id": case["id"]},
                )
            ).all()
    actions = [tuple(r) for r in rows]
    assert ("clb-gent", "read") in actions
    assert ("clb-gent", "key_worker_set") in actions or any(
        org == "clb-gent" and "key_worker" in action for org, action in actions
    )
    assert actions[-2:] == [("clb-gent", "read_breaks"), ("clb-gent", "read_timeline")]
    assert all(org == "clb-gent" for org, _ in actions)  # a refused stranger read nothing


async def test_a_reopened_case_gets_its_breaks_again() -> None:
    async with running("intake") as intake, running("cases") as cases:
        case = await open_case(intake, cases, birth=born(9), key="first", serial=41)
        later = (TODAY + 15 * DAY).isoformat()
        await cases.post(f"/v1/admin/sweep?as_of={later}", headers=ADMIN)
        case = (await cases.get(f"/v1/cases/{case['id']}", headers=auth())).json()
        assert open_rules(case) == ["no_key_worker"]
        closed = await change(cases, case, "POST", "/close")
        assert closed.status_code == 200
        assert open_rules(case) == []
        again = await open_case(intake, cases, birth=born(9), key="again", serial=41)
        assert again["id"] == case["id"]  # the same young person: the same case, open again
        swept = await cases.post(f"/v1/admin/sweep?as_of={later}", headers=ADMIN)
        assert swept.json()["opened"] == 1
        now = (await cases.get(f"/v1/cases/{case['id']}", headers=auth())).json()
        assert open_rules(now) == ["no_key_worker"]
        every = (await cases.get(f"/v1/cases/{case['id']}/breaks", headers=auth())).json()
        assert sorted((b["rule"], b["status"]) for b in every) == [
            ("no_key_worker", "open"),
            ("no_key_worker", "resolved"),
        ]


async def test_a_support_that_stopped_is_mended_by_a_new_one_in_its_domain() -> None:
    async with running("intake") as intake, running("cases") as cases:
        case = await open_case(intake, cases, birth=born(11))
        await change(cases, case, "PUT", "/key-worker", {"org": "clb-gent", "worker": "w-7"})
        ended = TODAY - 40 * DAY
        await change(
            cases,
            case,
            "POST",
            "/episodes",
            episode("family", "parenting_support", ended - 90 * DAY, ended, "dropped_out", "caw"),
        )
        assert open_rules(case) == ["support_ended_without_followup"]
        other_domain = await change(
            cases, case, "POST", "/episodes", episode("leisure", "activity", TODAY, provider="jc")
        )
        assert other_domain.status_code == 201
        assert open_rules(case) == ["support_ended_without_followup"]
        await change(
            cases,
            case,
            "POST",
            "/episodes",
            episode("family", "parenting_support", TODAY - DAY, provider="caw-2"),
        )
        assert open_rules(case) == []
        [mended] = (await cases.get(f"/v1/cases/{case['id']}/breaks", headers=auth())).json()
        assert mended["status"] == "resolved"
        assert mended["resolved_by"] == "mended"
