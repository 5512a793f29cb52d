"""Every query the HTTP APIs make finds its rows through an index, checked with EXPLAIN.

The APIs are driven through a whole story (registration, trajectory, handover, signals); the
statements each request sends are collected and explained on the same database. On SQLite a
plan may not `SCAN` a table (not even through an index: that walks all of it). On
PostgreSQL, with sequential scans priced out (`enable_seqscan = off`), a plan that still
holds a `Seq Scan` has no index to use; tiny test tables would otherwise hide a missing index
from its planner.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import event, text

from tests.conftest import auth, running
from tests.integration.cases_helpers import change, episode
from tests.integration.test_handover_flow import (
    ADMIN,
    SENDER,
    VDAB,
    consent_and_offer,
    early_leaver,
    make_partners,
)

pytestmark = pytest.mark.usefixtures("brug_env")
TODAY = date.today()
ANALYST = auth(role="analyst", org="vlaamse-overheid")
WHOLE_TABLE_READS = {"partners", "signals", "signal_responses"}
# ...and the handover metrics, which count every handover (only that statement).
METRICS_READ = re.compile(r"^SELECT handovers\.\w+(, handovers\.\w+)* FROM handovers$")


IN_STORY: ContextVar[bool] = ContextVar("in_story", default=False)


class Statements:
    """The statements the requests sent. The ASGI transport runs the app in the caller's
    context, and tasks started from it (intake's group commit) copy that context; consumers
    and relays, started before the story, do not."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[str, Any]] = {}

    def listener(self, _conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if not IN_STORY.get():
            return
        verb = statement.lstrip().split(None, 1)[0].upper()
        if verb in {"SELECT", "UPDATE", "DELETE"} and "sqlite_master" not in statement:
            self.seen.setdefault(statement, (statement, params))

    @contextmanager
    def watching(self, *clients: Any) -> Iterator[None]:
        engines = set()
        for client in clients:
            db = client.app.state.runtime.db
            engines |= {db.engine.sync_engine, db.read_engine.sync_engine}
        for engine in engines:
            event.listen(engine, "before_cursor_execute", self.listener)
        token = IN_STORY.set(True)
        try:
            yield
        finally:
            IN_STORY.reset(token)
            for engine in engines:
                event.remove(engine, "before_cursor_execute", self.listener)


async def story(intake: Any, cases: Any, handover: Any, signals: Any) -> None:
    """Every read and change of the APIs at least once."""
    await make_partners(handover)
    case, proposal = await early_leaver(intake, cases, handover)
    cid, hid = case["id"], str(proposal["id"])
    for params in (
        {"person_ref": case["person_ref"]},
        {"province": "VBR", "status": "open", "has_open_breaks": "true"},
        {"limit": 1},
    ):
        page = await cases.get("/v1/cases", params=params, headers=SENDER)
        assert page.status_code == 200, page.text
        if page.json().get("next_cursor"):
            more = {"cursor": page.json()["next_cursor"]}
            assert (await cases.get("/v1/cases", params=more, headers=SENDER)).status_code == 200
    await change(cases, case, "PUT", "/key-worker", {"org": "clb-gent", "worker": "w-1"})
    added = await change(
        cases, case, "POST", "/episodes", episode("family", "parenting_support", TODAY)
    )
    family = next(e for e in added.json()["episodes"] if e["domain"] == "family")
    await change(
        cases,
        case,
        "POST",
        f"/episodes/{family['id']}/end",
        {"end_date": TODAY.isoformat(), "outcome": "completed"},
    )
    for path in ("", "/breaks", "/timeline"):
        assert (await cases.get(f"/v1/cases/{cid}{path}", headers=SENDER)).status_code == 200
    await consent_and_offer(handover, hid)
    for path, who in (
        (f"/v1/handovers/{hid}", SENDER),
        (f"/v1/handovers/{hid}", VDAB),
        (f"/v1/handovers?case_id={cid}&status=offered", SENDER),
        ("/v1/handovers", VDAB),
        ("/v1/handovers/metrics", ANALYST),
        ("/v1/partners", SENDER),
    ):
        assert (await handover.get(path, headers=who)).status_code == 200, path
    assert (await handover.post(f"/v1/handovers/{hid}/accept", headers=VDAB)).status_code == 200
    blocked = await change(
        cases,
        case,
        "POST",
        "/block",
        {
            "blockers": ["waiting_list"],
            "domains": ["youth_care"],
            "routes_tried": [],
            "note": "wachtlijst",
        },
    )
    assert blocked.status_code == 200, blocked.text
    for path in ("/v1/signals", "/v1/signals/export.csv", "/dashboard"):
        assert (await signals.get(path, headers=ANALYST)).status_code == 200, path
    assert (await signals.get(f"/v1/signals/for-case/{cid}", headers=SENDER)).status_code == 200
    later = (TODAY + timedelta(days=1)).isoformat()
    assert (await cases.post(f"/v1/admin/sweep?as_of={later}", headers=ADMIN)).status_code == 200


async def plan_lines(client: Any, statement: str, params: Any) -> list[str]:
    db = client.app.state.runtime.db
    async with db.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        if db.sqlite:
            cursor = await raw.driver_connection.execute(
                "EXPLAIN QUERY PLAN " + statement, params or ()
            )
            return [row[-1] for row in await cursor.fetchall()]
        await raw.driver_connection.execute("SET enable_seqscan = off")
        try:
            rows = await raw.driver_connection.fetch("EXPLAIN " + statement, *(params or ()))
        finally:
            await raw.driver_connection.execute("RESET enable_seqscan")
        return [row[0] for row in rows]


FULL_SCAN = re.compile(r"^SCAN (\w+)|Seq Scan on (\w+)")
# An aggregate over every row is the point of these endpoints (signals are bounded by the
# cells, 6 provinces x 11 blockers x 9 domains; partners by the partners). On SQLite
# `SCAN t USING INDEX i` walks the whole index too.


async def test_every_api_query_uses_an_index() -> None:
    statements = Statements()
    async with (
        running("intake") as intake,
        running("cases") as cases,
        running("handover") as handover,
        running("signals") as signals,
    ):
        clients = {"intake": intake, "cases": cases, "handover": handover, "signals": signals}
        with statements.watching(*clients.values()):
            await story(intake, cases, handover, signals)
        owners = {}
        for name, client in clients.items():
            async with client.app.state.runtime.db.reading() as session:
                if client.app.state.runtime.db.sqlite:
                    tables = await session.execute(
                        text("SELECT name FROM sqlite_master WHERE type = 'table'")
                    )
                else:
                    tables = await session.execute(
                        text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
                    )
                owners |= {t[0]: name for t in tables}
        scans = []
        for statement, params in statements.seen.values():
            tables = set(re.findall(r'(?:FROM|JOIN|UPDATE)\s+"?(\w+)', statement))
            service = next((owners[t] for t in tables if t in owners), None)
            if service is None:
                continue
            for line in await plan_lines(clients[service], statement, params):
                found = FULL_SCAN.search(line.strip())
                table = found and (found.group(1) or found.group(2))
                if table == "handovers" and METRICS_READ.match(" ".join(statement.split())):
                    continue
                if table and table not in WHOLE_TABLE_READS | {"CONSTANT"}:
                    scans.append(f"{line.strip()}: {' '.join(statement.split())}")
    assert len(statements.seen) > 30  # the story reached the APIs' queries
    assert any("FROM idempotency_keys" in s for s in statements.seen)  # and the group commit's
    assert not scans, "queries without an index:\n" + "\n".join(sorted(set(scans)))
