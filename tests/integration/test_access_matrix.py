"""Every endpoint of the four services, for every role and organisation: who gets what
(SPEC section 3), in one table.

Callers (the columns), a token of each role from an organisation that is part of the story
("own"/"involved") and from one that is not ("stranger"):

- `case_worker`: `clb-gent` registered the cases and sends the handovers (own); `school-a`
  provides an episode in each case (involved); `caw-west` has nothing to do with them.
- `partner`: `vdab` was offered the handovers (own); `syntra` was offered another handover of
  the same young person (involved: it must still not see vdab's); `cvo-noord` is a registered
  partner offered nothing (stranger).
- `analyst` and `admin`: once with the organisation of the cases (`clb-gent`, own: an
  organisation lends no rights to another role) and once with their own.
- `anon`: no token at all (401 on everything but health and metrics).

The rows are checked against every route of every app (OpenAPI and hidden routes alike), so a
new endpoint without a row fails. The state is built once per database; each write that should
succeed gets a target of its own in the right state (a handover `offered` for `accept`, a
blocked case for `unblock`...), so that one caller's success cannot turn into another's 409.
Every answer is also scanned for ids the caller must not learn (a case, a handover, a person
ref or a registration it gets 404 or 403 for).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from sqlalchemy import text

from shared.settings import get_settings
from tests.conftest import auth, running
from tests.factories import national_id, registration
from tests.integration.cases_helpers import episode, open_case
from tests.integration.test_handover_flow import PARTNERS, make_partners
from tests.waiting import eventually

TODAY = date.today()
DAY = timedelta(days=1)
SERVICES = ("intake", "cases", "handover", "signals")

# column -> (role, organisation); None: no token
CALLERS: dict[str, tuple[str, str] | None] = {
    "anon": None,
    "case_worker/own": ("case_worker", "clb-gent"),
    "case_worker/involved": ("case_worker", "school-a"),
    "case_worker/stranger": ("case_worker", "caw-west"),
    "partner/own": ("partner", "vdab"),
    "partner/involved": ("partner", "syntra"),
    "partner/stranger": ("partner", "cvo-noord"),
    "analyst/own": ("analyst", "clb-gent"),
    "analyst/stranger": ("analyst", "vlaamse-overheid"),
    "admin/own": ("admin", "clb-gent"),
    "admin/stranger": ("admin", "brug-ops"),
}
OWN = auth(org="clb-gent")
VDAB = auth(role="partner", org="vdab")
SYNTRA = auth(role="partner", org="syntra")
ADMIN = auth(role="admin", org="brug-ops")
ANALYST = auth(role="analyst", org="vlaamse-overheid")


def headers_of(column: str) -> dict[str, str]:
    caller = CALLERS[column]
    return {} if caller is None else auth(role=caller[0], org=caller[1], sub=f"u-{column}")


@dataclass
class Call:
    """What a row sends: path parameters, a body, extra headers."""

    params: dict[str, str] = field(default_factory=dict)
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Prepare = Callable[["World"], Awaitable[Call]]


@dataclass(frozen=True)
class Row:
    service: str
    method: str
    path: str
    codes: str  # one code per column of CALLERS, in order; `|` separates the roles
    prepare: Prepare | None = None
    # True: every caller expected to succeed gets a target of its own (prepared anew), the
    # others share one; False: one target for the whole row (reads, repeatable writes).
    fresh: bool = False

    def expected(self) -> dict[str, int]:
        codes = [int(c) for c in self.codes.replace("|", " ").split()]
        assert len(codes) == len(CALLERS), f"{self.method} {self.path}: {len(codes)} codes"
        return dict(zip(CALLERS, codes, strict=True))


# --- the world: built once per database ------------------------------------------------------


@dataclass
class World:
    clients: dict[str, httpx.AsyncClient]
    case_a: dict[str, Any] = field(default_factory=dict)  # reads, handovers, a blocked case
    working: str = ""  # the case the case writes change
    closable: list[str] = field(default_factory=list)  # one per close
    registration: str = ""
    handover: str = ""  # clb-gent -> vdab, accepted, one field shared
    to_syntra: str = ""  # the same young person, offered to syntra
    signal: str = ""
    # ids a caller must never read in an answer, per column
    secret: dict[str, set[str]] = field(default_factory=dict)
    serial: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def cases(self) -> httpx.AsyncClient:
        return self.clients["cases"]

    @property
    def handovers(self) -> httpx.AsyncClient:
        return self.clients["handover"]

    def hide(self, columns: tuple[str, ...], *values: str) -> None:
        for column in columns:
            self.secret.setdefault(column, set()).update(values)

    # cases

    async def case(self, case_id: str) -> dict[str, Any]:
        response = await self.cases.get(f"/v1/cases/{case_id}", headers=OWN)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def change_case(
        self, case_id: str, method: str, path: str, body: Any = None
    ) -> dict[str, Any]:
        version = (await self.case(case_id))["version"]
        response = await self.cases.request(
            method,
            f"/v1/cases/{case_id}{path}",
            json=body,
            headers={**OWN, "If-Match": f'"{version}"'},
        )
        assert response.status_code in (200, 201), f"{method} {path}: {response.text}"
        return dict(response.json())

    # handovers

    async def step(self, handover_id: str, action: str, body: Any, who: dict[str, str]) -> None:
        response = await self.handovers.post(
            f"/v1/handovers/{handover_id}/{action}", json=body, headers=who
        )
        assert response.status_code == 200, f"{action}: {response.text}"

    async def handover_in(self, status: str, partner: str = "vdab", fields: Any = ()) -> str:
        """A new handover of case A from clb-gent to `partner`, walked to `status`."""
        response = await self.handovers.post(
            "/v1/handovers",
            json={"case_id": self.case_a["id"], "destination": "training", "goal": "job"},
            headers=OWN,
        )
        assert response.status_code == 201, response.text
        hid = str(response.json()["id"])
        theirs = "partner/own" if partner == "vdab" else "partner/involved"
        self.hide(tuple(c for c in CALLERS if c not in ("case_worker/own", theirs)), hid)
        them = {"vdab": VDAB, "syntra": SYNTRA}[partner]
        path = {
            "proposed": [],
            "consented": ["consent"],
            "offered": ["consent", "offer"],
            "declined": ["consent", "offer", "decline"],
            "accepted": ["consent", "offer", "accept"],
            "meeting_scheduled": ["consent", "offer", "accept", "meeting"],
            "started": ["consent", "offer", "accept", "meeting", "start"],
        }[status]
        bodies: dict[str, tuple[Any, dict[str, str]]] = {
            "consent": (
                {
                    "given_by": "youth",
                    "date": TODAY.isoformat(),
                    "partner_id": partner,
                    "shared_fields": list(fields),
                },
                OWN,
            ),
            "offer": ({"partner_id": partner}, OWN),
            "decline": ({"reason": "no_capacity"}, them),
            "accept": (None, them),
            "meeting": (MEETING, them),
            "start": ({"start_date": TODAY.isoformat()}, them),
        }
        for action in path:
            body, who = bodies[action]
            await self.step(hid, action, body, who)
        return hid


MEETING = {"date": TODAY.isoformat(), "participants": ["sender", "receiver", "young_person"]}
NOT_INVOLVED = tuple(
    c for c in CALLERS if c not in ("case_worker/own", "case_worker/involved", "anon")
)


async def build_world(clients: dict[str, httpx.AsyncClient]) -> World:
    intake, cases, handover, signals = (clients[s] for s in SERVICES)
    world = World(clients)
    await make_partners(handover, (*PARTNERS, ("cvo-noord", ["training"])))

    births = [date(TODAY.year - 16, 3, 3)] + [date(TODAY.year - 9, 4, d) for d in (1, 2, 3, 4)]
    opened = await asyncio.gather(
        *(open_case(intake, cases, birth=b, key=f"m{i}") for i, b in enumerate(births))
    )
    for case in opened:  # school-a provides an episode in every case
        await world.change_case(
            case["id"], "POST", "/episodes", episode("health", "therapy", TODAY - 30 * DAY)
        )
    world.case_a = await world.case(opened[0]["id"])
    world.working = opened[1]["id"]
    world.closable = [c["id"] for c in opened[2:]]
    world.hide(NOT_INVOLVED, *(c["id"] for c in opened), *(c["person_ref"] for c in opened))
    # a blocked case raises a signal (k is 1 here)
    await world.change_case(
        world.case_a["id"], "POST", "/block", {"blockers": ["waiting_list"], "domains": ["health"]}
    )

    case_id = world.case_a["id"]

    async def handover_knows() -> bool:
        async with handover.app.state.runtime.db.reading() as session:  # type: ignore[attr-defined]
            orgs = await session.scalar(
                text("SELECT involved_orgs FROM case_refs WHERE case_id = :c"), {"c": case_id}
            )
        return orgs is not None and "school-a" in str(orgs)

    async def signals_know() -> bool:
        found = await signals.get(f"/v1/signals/for-case/{case_id}", headers=auth(org="school-a"))
        return found.status_code == 200 and bool(found.json())

    async def signal_raised() -> str:
        await signals.post("/v1/admin/settle", headers=ADMIN)
        found = (await signals.get("/v1/signals", headers=ANALYST)).json()
        return str(found[0]["id"]) if found else ""

    await eventually(handover_knows)
    world.signal = await eventually(signal_raised)
    await eventually(signals_know)

    async with intake.app.state.runtime.db.reading() as session:  # type: ignore[attr-defined]
        world.registration = str(
            await session.scalar(
                text("SELECT id FROM registrations WHERE person_ref = :p"),
                {"p": world.case_a["person_ref"]},
            )
        )
    world.hide(tuple(c for c in CALLERS if c != "case_worker/own"), world.registration)

    world.handover = await world.handover_in("accepted", fields=["given_name"])
    world.to_syntra = await world.handover_in("offered", partner="syntra")
    hid = world.handover

    async def disclosed() -> bool:
        found = await intake.get(f"/v1/disclosures/{hid}", headers=VDAB)
        return found.status_code == 200

    await eventually(disclosed)
    return world


# --- how each row finds its target -----------------------------------------------------------


async def nothing(world: World) -> Call:
    return Call()


async def case_a(world: World) -> Call:
    return Call({"case_id": world.case_a["id"]})


async def registration_a(world: World) -> Call:
    return Call({"registration_id": world.registration})


async def the_handover(world: World) -> Call:
    return Call({"handover_id": world.handover})


async def the_signal(world: World) -> Call:
    return Call({"signal_id": world.signal})


async def new_registration(world: World) -> Call:
    n = next(world.serial)
    birth = date(TODAY.year - 9, 1, 1) + n * DAY
    person = {
        "national_id": national_id(birth, 500 + n),
        "given_name": f"Nieuw-{n}",
        "family_name": "Matrix",
        "birth_date": birth.isoformat(),
    }
    return Call(body=registration(person=person), headers={"Idempotency-Key": f"matrix-{n}"})


async def new_partner(world: World) -> Call:
    n = next(world.serial)
    return Call(
        body={
            "partner_id": f"partner-{n}",
            "name": f"Partner {n}",
            "destinations": ["work"],
            "provinces": ["LIM"],
        }
    )


async def new_proposal(world: World) -> Call:
    return Call(body={"case_id": world.case_a["id"], "destination": "work", "goal": "job"})


async def episode_on_working(world: World) -> Call:
    return Call({"case_id": world.working}, episode("leisure", "activity", TODAY - 3 * DAY))


async def open_episode(world: World) -> Call:
    case = await world.change_case(
        world.working, "POST", "/episodes", episode("family", "parenting_support", TODAY - 9 * DAY)
    )
    newest = [e for e in case["episodes"] if e["end_date"] is None and e["domain"] == "family"]
    return Call(
        {"case_id": world.working, "episode_id": newest[-1]["id"]},
        {"end_date": TODAY.isoformat(), "outcome": "completed"},
    )


async def key_worker(world: World) -> Call:
    return Call({"case_id": world.working}, {"org": "clb-gent", "worker": "An Claes"})


BLOCK = {"blockers": ["transport"], "domains": ["leisure"]}


async def working_open(world: World) -> Call:
    if (await world.case(world.working))["status"] == "blocked":
        await world.change_case(world.working, "POST", "/unblock")
    return Call({"case_id": world.working}, BLOCK)


async def working_blocked(world: World) -> Call:
    if (await world.case(world.working))["status"] != "blocked":
        await world.change_case(world.working, "POST", "/block", BLOCK)
    return Call({"case_id": world.working})


async def exclusion_break(world: World) -> Call:
    """Two exclusions within a year: a repeated_exclusion break only a case worker closes."""
    n = next(world.serial)
    for start in (TODAY - (60 + n) * DAY, TODAY - n * DAY):
        case = await world.change_case(
            world.working,
            "POST",
            "/episodes",
            episode("school", "temporary_exclusion", start, start + DAY, "completed"),
        )
    breaks = [b for b in case["open_breaks"] if b["rule"] == "repeated_exclusion"]
    return Call({"case_id": world.working, "break_id": breaks[-1]["id"]})


async def closable_case(world: World) -> Call:
    return Call({"case_id": world.closable.pop()})


async def signal_answer(world: World) -> Call:
    return Call({"signal_id": world.signal}, {"response": "addressed", "text": "Extra capaciteit."})


def handover_in(status: str, body: Any = None) -> Prepare:
    async def prepare(world: World) -> Call:
        return Call({"handover_id": await world.handover_in(status)}, body)

    return prepare


CONSENT = {"given_by": "youth", "date": TODAY.isoformat(), "partner_id": "vdab"}

# Columns: anon | case_worker own involved stranger | partner own involved stranger
#        | analyst own stranger | admin own stranger
PUBLIC = "200 | 200 200 200 | 200 200 200 | 200 200 | 200 200"
CASE_READ = "401 | 200 200 404 | 403 403 403 | 403 403 | 403 403"
CASE_WRITE = CASE_READ
CASE_CREATE = "401 | 201 201 404 | 403 403 403 | 403 403 | 403 403"
CASE_WORKERS = "401 | 200 200 200 | 403 403 403 | 403 403 | 403 403"
ANALYSTS = "401 | 403 403 403 | 403 403 403 | 200 200 | 403 403"
ADMINS = "401 | 403 403 403 | 403 403 403 | 403 403 | 200 200"
SENDER_STEP = "401 | 200 404 404 | 404 404 404 | 403 403 | 403 403"  # not offered yet
PARTNER_STEP = "401 | 409 404 404 | 200 404 404 | 403 403 | 403 403"
SENDER_STEP_SEEN = "401 | 200 404 404 | 409 404 404 | 403 403 | 403 403"  # offered already

MATRIX: list[Row] = [
    # health and metrics: no token needed (SPEC: every /v1 endpoint needs one)
    *(Row(s, "GET", p, PUBLIC) for s in SERVICES for p in ("/healthz", "/readyz", "/metrics")),
    # intake
    Row(
        "intake",
        "POST",
        "/v1/registrations",
        "401 | 202 202 202 | 403 403 403 | 403 403 | 403 403",
        new_registration,
        fresh=True,
    ),
    Row(
        "intake",
        "GET",
        "/v1/registrations/{registration_id}",
        "401 | 200 404 404 | 403 403 403 | 403 403 | 403 403",
        registration_a,
    ),
    Row(
        "intake",
        "GET",
        "/v1/disclosures/{handover_id}",
        "401 | 403 403 403 | 200 404 404 | 403 403 | 403 403",
        the_handover,
    ),
    # cases
    Row("cases", "GET", "/v1/cases", CASE_WORKERS),
    Row("cases", "GET", "/v1/cases/{case_id}", CASE_READ, case_a),
    Row("cases", "GET", "/v1/cases/{case_id}/breaks", CASE_READ, case_a),
    Row("cases", "GET", "/v1/cases/{case_id}/timeline", CASE_READ, case_a),
    Row("cases", "POST", "/v1/cases/{case_id}/episodes", CASE_CREATE, episode_on_working),
    Row(
        "cases",
        "POST",
        "/v1/cases/{case_id}/episodes/{episode_id}/end",
        CASE_WRITE,
        open_episode,
        fresh=True,
    ),
    Row("cases", "PUT", "/v1/cases/{case_id}/key-worker", CASE_WRITE, key_worker),
    Row("cases", "POST", "/v1/cases/{case_id}/block", CASE_WRITE, working_open, fresh=True),
    Row("cases", "POST", "/v1/cases/{case_id}/unblock", CASE_WRITE, working_blocked, fresh=True),
    Row(
        "cases",
        "POST",
        "/v1/cases/{case_id}/breaks/{break_id}/close",
        CASE_WRITE,
        exclusion_break,
        fresh=True,
    ),
    Row("cases", "POST", "/v1/cases/{case_id}/close", CASE_WRITE, closable_case, fresh=True),
    Row("cases", "POST", "/v1/admin/sweep", ADMINS),
    Row("cases", "POST", "/v1/admin/retention", ADMINS),
    # handover
    Row("handover", "GET", "/v1/partners", "401 | 200 200 200 | 403 403 403 | 403 403 | 200 200"),
    Row(
        "handover",
        "POST",
        "/v1/partners",
        "401 | 403 403 403 | 403 403 403 | 403 403 | 201 201",
        new_partner,
        fresh=True,
    ),
    Row(
        "handover",
        "POST",
        "/v1/handovers",
        "401 | 201 201 404 | 403 403 403 | 403 403 | 403 403",
        new_proposal,
    ),
    Row("handover", "GET", "/v1/handovers", "401 | 200 200 200 | 200 200 200 | 403 403 | 403 403"),
    Row("handover", "GET", "/v1/handovers/metrics", ANALYSTS),
    Row(
        "handover",
        "GET",
        "/v1/handovers/{handover_id}",
        "401 | 200 404 404 | 200 404 404 | 403 403 | 403 403",
        the_handover,
    ),
    Row(
        "handover",
        "POST",
        "/v1/handovers/{handover_id}/consent",
        SENDER_STEP,
        handover_in("proposed", CONSENT),
        fresh=True,
    ),
    Row(
        "handover",
        "POST",
        "/v1/handovers/{handover_id}/offer",
        SENDER_STEP,
        handover_in("consented", {"partner_id": "vdab"}),
        fresh=True,
    ),
    Row(
        "handover",
        "POST",
        "/v1/handovers/{handover_id}/accept",
        PARTNER_STEP,
        handover_in("offered"),
        fresh=True,
    ),
    Row(
        "handover",
        "POST",
        "/v1/handovers/{handover_id}/decline",
        PARTNER_STEP,
        handover_in("offered", {"reason": "not_suitable"}),
        fresh=True,
    ),
    Row(
        "handover",
        "POST",
        "/v1/handovers/{handover_id}/meeting",
        "401 | 200 404 404 | 200 404 404 | 403 403 | 403 403",
        handover_in("accepted", MEETING),
        fresh=True,
    ),
    Row(
        "handover",
        "POST",
        "/v1/handovers/{handover_id}/start",
        PARTNER_STEP,
        handover_in("meeting_scheduled", {"start_date": TODAY.isoformat()}),
        fresh=True,
    ),
    Row(
        "handover",
        "POST",
        "/v1/handovers/{handover_id}/complete",
        PARTNER_STEP,
        handover_in("started"),
        fresh=True,
    ),
    Row(
        "handover",
        "POST",
        "/v1/handovers/{handover_id}/interrupt",
        PARTNER_STEP,
        handover_in("started", {"reason": "moved"}),
        fresh=True,
    ),
    Row(
        "handover",
        "POST",
        "/v1/handovers/{handover_id}/withdraw-consent",
        SENDER_STEP_SEEN,
        handover_in("accepted"),
        fresh=True,
    ),
    Row(
        "handover",
        "POST",
        "/v1/handovers/{handover_id}/cancel",
        SENDER_STEP_SEEN,
        handover_in("declined"),
        fresh=True,
    ),
    Row("handover", "POST", "/v1/admin/sweep", ADMINS),
    # signals
    Row("signals", "GET", "/v1/signals", ANALYSTS),
    Row("signals", "GET", "/v1/signals/export.csv", ANALYSTS),
    Row("signals", "GET", "/dashboard", ANALYSTS),
    Row("signals", "GET", "/v1/signals/{signal_id}", ANALYSTS, the_signal),
    Row("signals", "POST", "/v1/signals/{signal_id}/acknowledge", ANALYSTS, the_signal),
    Row(
        "signals",
        "POST",
        "/v1/signals/{signal_id}/respond",
        ANALYSTS,
        signal_answer,
    ),
    Row("signals", "GET", "/v1/signals/for-case/{case_id}", CASE_READ, case_a),
    Row("signals", "POST", "/v1/admin/settle", ADMINS),
]


# --- the routes the table must cover ---------------------------------------------------------


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    """Every APIRoute, also those hidden from the schema and behind included routers."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # FastAPI >= 0.16x keeps includes lazy
            yield from _routes(route.original_router.routes)
        elif hasattr(route, "routes"):  # a mounted router
            yield from _routes(route.routes)


def endpoints(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path) of every operation: the OpenAPI document and the routing table."""
    found = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        for method in operations
        if method in ("get", "put", "post", "patch", "delete")
    }
    for route in _routes(app.routes):
        found |= {(m, route.path) for m in route.methods or () if m != "HEAD"}
    return found


def test_every_route_of_every_service_has_a_row() -> None:
    import importlib

    rows = {(r.service, r.method, r.path) for r in MATRIX}
    assert len(rows) == len(MATRIX), "a row appears twice"
    served = set()
    for service in SERVICES:
        app = importlib.import_module(f"services.{service}.app").create_app()
        served |= {(service, m, p) for m, p in endpoints(app)}
    for row in MATRIX:
        row.expected()  # eleven codes each
    missing = sorted(served - rows)
    extra = sorted(rows - served)
    assert not missing, "endpoints without a row in MATRIX:\n" + "\n".join(map(str, missing))
    assert not extra, "rows for endpoints that do not exist:\n" + "\n".join(map(str, extra))


# --- the matrix ------------------------------------------------------------------------------


@pytest.fixture
def k_of_one(monkeypatch: pytest.MonkeyPatch, brug_env: dict[str, str]) -> None:
    """One blocked case is enough for a signal (before the services start)."""
    monkeypatch.setenv("BRUG_SIGNAL_MIN_CASES", "1")
    get_settings.cache_clear()


async def run_row(world: World, row: Row) -> tuple[list[str], int]:
    """Every caller on one row; the mismatches, and how many requests were made."""
    expected = row.expected()
    prepare = row.prepare or nothing
    succeeding = [c for c, code in expected.items() if code < 300 and row.fresh]
    shared = await prepare(world)
    order = [c for c in expected if c not in succeeding] + succeeding
    wrong = []
    for column in order:
        # a target of its own, made just before: the previous caller's success moved the last
        call = await prepare(world) if column in succeeding else shared
        headers = {**headers_of(column), **call.headers}
        if "case_id" in call.params and row.method != "GET" and row.service == "cases":
            version = (await world.case(call.params["case_id"]))["version"]
            headers["If-Match"] = f'"{version}"'
        url = row.path.format(**call.params)
        client = world.clients[row.service]
        response = await client.request(row.method, url, json=call.body, headers=headers)
        what = f"{row.service:8} {row.method:4} {row.path} as {column}"
        if response.status_code != expected[column]:
            detail = response.text[:160].replace("\n", " ")
            wrong.append(f"{what}: {response.status_code}, expected {expected[column]} ({detail})")
        leaked = sorted(s for s in world.secret.get(column, ()) if s in response.text)
        if leaked:
            wrong.append(f"{what}: the answer names {', '.join(leaked)}")
    return wrong, len(order)


async def test_every_endpoint_for_every_role_and_organisation(k_of_one: None) -> None:
    async with (
        running("intake") as intake,
        running("cases") as cases,
        running("handover") as handover,
        running("signals") as signals,
    ):
        clients = {"intake": intake, "cases": cases, "handover": handover, "signals": signals}
        started = time.monotonic()
        world = await build_world(clients)
        built = time.monotonic()
        wrong: list[str] = []
        requests = 0
        for row in MATRIX:
            found, made = await run_row(world, row)
            wrong += found
            requests += made
        checked = time.monotonic()
    print(
        f"\naccess matrix: {len(MATRIX)} rows x {len(CALLERS)} callers, {requests} checked "
        f"requests; world built in {built - started:.1f} s, checked in {checked - built:.1f} s"
    )
    assert requests == len(MATRIX) * len(CALLERS)
    assert not wrong, f"{len(wrong)} answers not as the table says:\n" + "\n".join(wrong)
