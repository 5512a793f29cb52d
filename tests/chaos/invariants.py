"""After the chaos: wait until every event has travelled, then hold the final state against
the ledger of what was acknowledged. Anything missing is lost, anything twice is doubled,
anything else that differs is a violation."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import redis.asyncio as aioredis
import sqlalchemy as sa

from services.cases.breaks import evaluate
from services.cases.trajectory import Episode, Outcome, Trajectory
from services.signals import aggregate
from services.signals.aggregate import BlockedPeriod, Signal
from services.signals.facts import next_periods
from shared.domain import LifeDomain, Province, age_band, age_on
from shared.events.contracts import CaseBlocked, CaseClosed, CaseUnblocked, Payload, RouteTried
from shared.events.envelope import event_type
from shared.events.streams import deadletter_stream, partner_stream
from tests.chaos.client import ADMIN, ANALYST, Api, headers
from tests.chaos.cluster import SIGNAL_MIN_CASES, STREAM_PREFIX, Cluster
from tests.chaos.ledger import CaseTruth, HandoverTruth, Ledger
from tests.chaos.plans import PARTNERS
from tests.chaos.population import Person

SHARING = ("accepted", "meeting_scheduled", "started")


@dataclass
class Findings:
    lost: Counter[str] = field(default_factory=Counter)
    doubled: Counter[str] = field(default_factory=Counter)
    violations: list[str] = field(default_factory=list)
    checked: Counter[str] = field(default_factory=Counter)
    notes: list[str] = field(default_factory=list)

    def miss(self, kind: str, text: str) -> None:
        self.lost[kind] += 1
        self.violations.append(f"lost {kind}: {text}")

    def twice(self, kind: str, text: str, times: int = 1) -> None:
        self.doubled[kind] += times
        self.violations.append(f"doubled {kind}: {text}")

    def wrong(self, text: str) -> None:
        self.violations.append(text)


def trajectory(view: dict[str, Any], birth: date) -> Trajectory:
    episodes = tuple(
        Episode(
            e["id"],
            LifeDomain(e["domain"]),
            e["kind"],
            date.fromisoformat(e["start_date"]),
            date.fromisoformat(e["end_date"]) if e["end_date"] else None,
            Outcome(e["outcome"]) if e["outcome"] else None,
            date.fromisoformat(e["planned_end_date"]) if e["planned_end_date"] else None,
        )
        for e in view["episodes"]
    )
    return Trajectory(
        birth,
        datetime.fromisoformat(view["opened_at"]).date(),
        episodes,
        has_key_worker=view["key_worker"] is not None,
        closed=view["status"] == "closed",
    )


def episode_fields(e: dict[str, Any]) -> tuple[Any, ...]:
    def d(value: str | None) -> date | None:
        return date.fromisoformat(value) if value else None

    return (
        e["domain"],
        e["kind"],
        e["provider_org"],
        d(e["start_date"]),
        d(e["planned_end_date"]),
        d(e["end_date"]),
        e["outcome"],
    )


class Checker:
    def __init__(
        self, cluster: Cluster, api: Api, ledger: Ledger, people: list[Person], today: date
    ) -> None:
        self.cluster, self.api, self.ledger, self.today = cluster, api, ledger, today
        self.people = {p.index: p for p in people}
        self.found = Findings()

    async def rows(self, service: str, query: str) -> list[Any]:
        db = self.cluster.database(service)
        try:
            async with db.reading() as session:
                return list(await session.execute(sa.text(query)))
        finally:
            await db.dispose()

    async def run(self) -> Findings:
        await self.registrations()
        await self.each(self.case, [c for c in self.ledger.cases.values() if c.case_id])
        await self.handovers()
        await self.partner_streams()
        await self.signals()
        await self.dead_letters()
        return self.found

    async def registrations(self) -> None:
        """Every acknowledged registration is kept once, and is one case, and only those."""
        kept = {r.id for r in await self.rows("intake", "SELECT id FROM registrations")}
        for r in self.ledger.registrations:
            self.found.checked["registrations"] += 1
            if r.registration_id not in kept:
                self.found.miss("registration", f"{r.key} ({r.org}) not in intake")
        by_ref: dict[str, list[str]] = defaultdict(list)
        for row in await self.rows("cases", "SELECT id, person_ref FROM cases"):
            by_ref[row.person_ref].append(row.id)
        acknowledged = {r.person_ref for r in self.ledger.registrations}
        for ref in acknowledged:
            self.found.checked["people"] += 1
            cases = by_ref.get(ref, [])
            if not cases:
                self.found.miss("case", f"person_ref {ref[:12]}… has no case")
            elif len(cases) > 1:
                self.found.twice("case", f"person_ref {ref[:12]}… has {len(cases)} cases")
        for ref in by_ref.keys() - acknowledged:
            self.found.wrong(f"a case for person_ref {ref[:12]}… that nobody registered")

    async def case(self, truth: CaseTruth) -> None:
        view = await self.api.get(
            "cases", f"/v1/cases/{truth.case_id}", headers=headers(org=truth.registrant_org)
        )
        name = f"case {truth.case_id} (person {truth.person_index})"
        self.found.checked["cases"] += 1
        expected_kw = (
            {"org": truth.key_worker[0], "worker": truth.key_worker[1]}
            if truth.key_worker
            else None
        )
        for what, have, want in (
            ("status", view["status"], truth.status),
            ("key worker", view["key_worker"], expected_kw),
            ("blockers", sorted(view["blockers"]), sorted(truth.blockers)),
            ("blocked domains", sorted(view["blocked_domains"]), sorted(truth.blocked_domains)),
            ("involved organisations", sorted(view["involved_orgs"]), sorted(truth.orgs)),
        ):
            if have != want:
                self.found.miss("case change", f"{name}: {what} is {have!r}, expected {want!r}")
        await self.episodes(truth, view, name)
        await self.breaks(truth, view, name)

    async def episodes(self, truth: CaseTruth, view: dict[str, Any], name: str) -> None:
        have = {e["id"]: e for e in view["episodes"]}
        for episode in truth.episodes.values():
            self.found.checked["episodes"] += 1
            got = have.get(episode.id)
            if got is None:
                self.found.miss("episode", f"{name}: {episode.domain}/{episode.kind} missing")
            elif episode_fields(got) != episode.fields():
                self.found.miss(
                    "episode change", f"{name}: {episode_fields(got)} != {episode.fields()}"
                )
        expected = Counter(e.fields() for e in truth.episodes.values())
        for episode_id, got in have.items():
            if episode_id in truth.episodes:
                continue
            if expected[episode_fields(got)]:
                self.found.twice("episode", f"{name}: {episode_fields(got)}")
            else:
                self.found.wrong(f"{name}: an episode nobody added: {episode_fields(got)}")

    async def breaks(self, truth: CaseTruth, view: dict[str, Any], name: str) -> None:
        """Open breaks are exactly what the rules find in the final trajectory, as of today."""
        implied = {
            (f.rule.value, tuple(f.episode_ids), f.opened_on)
            for f in evaluate(trajectory(view, truth.birth_date), self.today)
        }
        open_ = {
            (b["rule"], tuple(b["episode_ids"]), date.fromisoformat(b["opened_on"]))
            for b in view["open_breaks"]
        }
        self.found.checked["open breaks"] += len(open_)
        for rule, episodes, opened in sorted(implied - open_):
            self.found.wrong(f"{name}: break {rule} {episodes} of {opened} holds but is not open")
        for rule, episodes, opened in sorted(open_ - implied):
            self.found.wrong(f"{name}: break {rule} {episodes} of {opened} is open, holds not")

    async def handovers(self) -> None:
        tracked = {
            r.handover_id: r.status
            for r in await self.rows("cases", "SELECT handover_id, status FROM case_handovers")
        }
        stored = {r.id for r in await self.rows("handover", "SELECT id FROM handovers")}
        for handover_id in stored - self.ledger.handovers.keys():
            self.found.twice("handover", f"{handover_id}: a handover nobody proposed")
        states = Counter(t.status for t in self.ledger.handovers.values())
        self.found.notes.append(f"handovers by state: {dict(states.most_common())}")
        await self.each(
            lambda truth: self.handover(truth, tracked.get(truth.id)),
            list(self.ledger.handovers.values()),
        )

    async def each(self, check: Callable[[Any], Awaitable[None]], items: list[Any]) -> None:
        """A few reads at a time: the check reads hundreds of cases."""
        limit = asyncio.Semaphore(8)

        async def one(item: Any) -> None:
            async with limit:
                await check(item)

        await asyncio.gather(*(one(i) for i in items))

    async def handover(self, truth: HandoverTruth, tracked: str | None) -> None:
        view = await self.api.get(
            "handover", f"/v1/handovers/{truth.id}", headers=headers(org=truth.sender_org)
        )
        name = f"handover {truth.id} (person {truth.person_index})"
        self.found.checked["handovers"] += 1
        consent = view["consent"] or {}
        for what, have, want in (
            ("status", view["status"], truth.status),
            ("partner", view["partner_id"], truth.partner_id),
            ("meeting date", view["meeting_date"], _iso(truth.meeting_date)),
            ("start date", view["start_date"], _iso(truth.start_date)),
            ("consent withdrawn", bool(consent.get("withdrawn")), truth.consent_withdrawn),
            ("shared fields", consent.get("shared_fields", []), truth.shared_fields),
        ):
            if have != want:
                self.found.miss("handover step", f"{name}: {what} is {have!r}, expected {want!r}")
        if tracked != truth.status:
            self.found.miss("handover event", f"{name}: cases tracks {tracked!r}")
        if truth.partner_id is not None:
            await self.disclosure(truth, name)

    async def disclosure(self, truth: HandoverTruth, name: str) -> None:
        """Intake discloses the consented fields to the accepting partner while it shares."""
        assert truth.partner_id is not None
        response = await self.api.call(
            "intake",
            "GET",
            f"/v1/disclosures/{truth.id}",
            headers=headers(role="partner", org=truth.partner_id),
        )
        sharing = truth.status in SHARING and not truth.consent_withdrawn
        self.found.checked["disclosures"] += 1
        if not sharing:
            if response.status_code != 404:
                self.found.wrong(f"{name}: disclosed ({response.status_code}) while not sharing")
            return
        if response.status_code != 200:
            self.found.miss("disclosure", f"{name}: {response.status_code}, expected 200")
            return
        body = self.people[truth.person_index].body
        values = {
            "given_name": body["person"]["given_name"],
            "family_name": body["person"]["family_name"],
            "birth_date": body["person"]["birth_date"],
            "municipality": body["region"]["municipality_nis"],
            "school_level": body["school_level"],
        }
        want = {f: values[f] for f in truth.shared_fields}
        if response.json()["fields"] != want:
            self.found.wrong(f"{name}: disclosed {sorted(response.json()['fields'])}")

    async def partner_streams(self) -> None:
        """Each acknowledged offer, and each step after it, reached the partner's stream
        under one event id (a relay retry may repeat an id, never make a new one)."""
        redis = aioredis.Redis.from_url(self.cluster.redis.url)
        kinds = {event_type("partner.offer"): "offer", event_type("partner.update"): "update"}
        try:
            for partner in PARTNERS:
                pid = partner["partner_id"]
                ids: dict[tuple[str, str], set[str]] = defaultdict(set)
                for _, fields in await redis.xrange(partner_stream(pid, STREAM_PREFIX)):
                    event = json.loads(fields[b"event"])
                    kind = kinds[event["type"]]
                    ids[(kind, event["data"]["handover_id"])].add(event["id"])
                for truth in self.ledger.handovers.values():
                    for kind, want in (
                        ("offer", truth.offers[pid]),
                        ("update", truth.updates[pid]),
                    ):
                        have = len(ids.get((kind, truth.id), ()))
                        self.found.checked[f"partner {kind}s"] += want
                        what, text = f"partner {kind}", f"{truth.id} to {pid}: {have} of {want}"
                        if have < want:
                            self.found.miss(what, text)
                        elif have > want:
                            self.found.twice(what, text)
        finally:
            await redis.aclose()

    async def signals(self) -> None:
        """Signals equal a rebuild from the case stream, and the blocks acknowledged."""
        env = {**os.environ, **self.cluster.env}
        rebuilt = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "shared.cli.main", "signals", "rebuild"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.found.notes.append("signals rebuild: " + rebuilt.stdout.strip().replace("\n", "; "))
        if rebuilt.returncode != 0 or "identical" not in rebuilt.stdout:
            self.found.wrong(f"signals differ from a rebuild: {rebuilt.stdout}{rebuilt.stderr}")
        want = {
            (str(s.province), str(s.blocker), str(s.domain)): {
                "case_count": s.case_count,
                "level": s.level,
                "sector": str(s.sector),
                "age_bands": {b: c.value for b, c in s.age_bands.items()},
                "refusals": {k: c.value for k, c in s.refusals_by_provider_kind.items()},
            }
            for s in self.expected_signals().values()
        }
        listed = await self.api.get(
            "signals", "/v1/signals", params={"limit": 1000}, headers=ANALYST
        )
        have = {
            (s["province"], s["blocker"], s["domain"]): {
                "case_count": s["case_count"]["value"],
                "level": s["level"],
                "sector": s["sector"],
                "age_bands": {b: c["value"] for b, c in s["age_bands"].items()},
                "refusals": {k: c["value"] for k, c in s["refusals_by_provider_kind"].items()},
            }
            for s in listed
            if s["status"] != "resolved"
        }
        self.found.checked["signals"] += len(have)
        for cell in sorted(want.keys() | have.keys()):
            if want.get(cell) != have.get(cell):
                self.found.wrong(f"signal {cell}: {have.get(cell)}, expected {want.get(cell)}")

    def expected_signals(self) -> dict[str, Signal]:
        """The signals' own rules (facts.next_periods, aggregate.cells and .signals) applied
        to the blocks, unblocks and closes acknowledged, as breaks.evaluate is to episodes."""
        periods = []
        for case in self.ledger.cases.values():
            mine: list[BlockedPeriod] = []
            for kind, on, body in case.block_events:
                event: Payload
                if kind == "blocked":
                    event = CaseBlocked(
                        case_id=str(case.case_id),
                        province=Province(case.province),
                        age_band=age_band(age_on(case.birth_date, on)),
                        blockers=body["blockers"],
                        domains=body["domains"],
                        routes_tried=[
                            RouteTried(
                                provider_kind=r["provider_kind"], answer=r["answer"], date=r["date"]
                            )
                            for r in body["routes_tried"]
                        ],
                        blocked_on=on,
                    )
                elif kind == "unblocked":
                    event = CaseUnblocked(case_id=str(case.case_id), unblocked_on=on)
                else:
                    event = CaseClosed(case_id=str(case.case_id), closed_on=on)
                mine = next_periods(mine, event)
            periods += mine
        return aggregate.signals(aggregate.cells(periods, self.today), SIGNAL_MIN_CASES)

    async def dead_letters(self) -> None:
        redis = aioredis.Redis.from_url(self.cluster.redis.url)
        try:
            dead = await redis.xrange(deadletter_stream(STREAM_PREFIX), count=5)
            total = await redis.xlen(deadletter_stream(STREAM_PREFIX))
        finally:
            await redis.aclose()
        if total:
            reasons = [f.get(b"reason", b"?").decode()[:200] for _, f in dead]
            self.found.wrong(f"{total} dead letters, e.g. {reasons}")


async def sweep(api: Api, today: date) -> dict[str, Any]:
    """The time-based break rules as of today, before the breaks are compared."""
    response = await api.call(
        "cases", "POST", "/v1/admin/sweep", params={"as_of": today.isoformat()}, headers=ADMIN
    )
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None
