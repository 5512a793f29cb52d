"""Real objects for the fuzzer to hit: without them every `{case_id}` it makes up is a 404, and
the code behind the 404 (the writes, the views, the state machine) is never fuzzed.

Builds, over HTTP against the running services, what each role can reach with its fuzzing
token: two cases of `clb-gent` (a teenager with handovers to `vdab` in several states, a child
with an open break, blocked so that a signal is raised), and returns their ids by kind, for
schemathesis' dictionaries.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

import httpx

from shared.auth import make_token
from shared.settings import DEV_JWT_SECRET
from tests.factories import national_id, registration

# The organisation each role fuzzes as: the one that owns the seeded objects.
ORG_OF = {
    "case_worker": "clb-gent",
    "partner": "vdab",
    "analyst": "vlaamse-overheid",
    "admin": "brug-ops",
}
DAY = timedelta(days=1)


def bearer(role: str) -> dict[str, str]:
    token = make_token(role=role, org=ORG_OF[role], sub=f"fuzz-{role}", secret=DEV_JWT_SECRET)
    return {"Authorization": f"Bearer {token}"}


def until(what: str, check: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise RuntimeError(f"seeding: {what} did not happen within {timeout:.0f} s")
        time.sleep(0.1)


def expect(response: httpx.Response, *codes: int) -> Any:
    if response.status_code not in codes:
        raise RuntimeError(
            f"seeding: {response.request.method} {response.request.url.path} answered "
            f"{response.status_code}: {response.text[:300]}"
        )
    return response.json()


class Seeder:
    def __init__(self, urls: dict[str, str]) -> None:
        self.http = {name: httpx.Client(base_url=url, timeout=30) for name, url in urls.items()}
        self.today = date.today()
        self.ids: dict[str, list[str]] = {
            "case": [],
            "episode": [],
            "break": [],
            "handover": [],
            "registration": [],
            "signal": [],
            "partner": [],
        }

    def close(self) -> None:
        for client in self.http.values():
            client.close()

    # cases

    def open_case(self, birth: date, key: str) -> dict[str, Any]:
        age = (self.today - birth).days // 365
        body = registration(
            person={
                "national_id": national_id(birth),
                "given_name": f"Fuzz-{key}",
                "family_name": "Seed",
                "birth_date": birth.isoformat(),
            },
            consent={"given_by": "youth" if age >= 12 else "parents", "date": "2026-05-20"},
        )
        answer = expect(
            self.http["intake"].post(
                "/v1/registrations",
                json=body,
                headers={**bearer("case_worker"), "Idempotency-Key": f"fuzz-seed-{key}"},
            ),
            202,
        )
        self.ids["registration"].append(answer["registration_id"])

        def found() -> Any:
            page = self.http["cases"].get(
                "/v1/cases",
                params={"person_ref": answer["person_ref"]},
                headers=bearer("case_worker"),
            )
            return page.status_code == 200 and page.json()["items"]

        [summary] = until(f"the case of registration {key}", found)
        self.ids["case"].append(summary["id"])
        return self.case(summary["id"])

    def case(self, case_id: str) -> dict[str, Any]:
        return dict(
            expect(
                self.http["cases"].get(f"/v1/cases/{case_id}", headers=bearer("case_worker")), 200
            )
        )

    def change(self, case: dict[str, Any], path: str, body: Any = None) -> dict[str, Any]:
        changed = expect(
            self.http["cases"].post(
                f"/v1/cases/{case['id']}{path}",
                json=body,
                headers={**bearer("case_worker"), "If-Match": f'"{case["version"]}"'},
            ),
            200,
            201,
        )
        return dict(changed)

    def episode(
        self, case: dict[str, Any], domain: str, kind: str, days_ago: int
    ) -> dict[str, Any]:
        start = self.today - days_ago * DAY
        return self.change(
            case,
            "/episodes",
            {
                "domain": domain,
                "kind": kind,
                "provider_org": "school-a",
                "start_date": start.isoformat(),
            },
        )

    # handovers

    def step(self, handover_id: str, action: str, body: Any, role: str) -> None:
        expect(
            self.http["handover"].post(
                f"/v1/handovers/{handover_id}/{action}", json=body, headers=bearer(role)
            ),
            200,
        )

    def handover(self, case_id: str, steps: list[str]) -> str:
        def proposed() -> Any:
            answer = self.http["handover"].post(
                "/v1/handovers",
                json={"case_id": case_id, "destination": "training", "goal": "job"},
                headers=bearer("case_worker"),
            )
            return answer.status_code == 201 and answer.json()["id"]

        handover_id = str(until("handover learning of the case", proposed))
        today = self.today.isoformat()
        bodies: dict[str, tuple[Any, str]] = {
            "consent": (
                {
                    "given_by": "youth",
                    "date": today,
                    "partner_id": "vdab",
                    "shared_fields": ["given_name"],
                },
                "case_worker",
            ),
            "offer": ({"partner_id": "vdab"}, "case_worker"),
            "accept": (None, "partner"),
            "meeting": (
                {"date": today, "participants": ["sender", "receiver", "young_person"]},
                "partner",
            ),
            "start": ({"start_date": today}, "partner"),
        }
        for action in steps:
            body, role = bodies[action]
            self.step(handover_id, action, body, role)
        self.ids["handover"].append(handover_id)
        return handover_id

    # everything

    def run(self) -> dict[str, list[str]]:
        for partner_id, destinations in (("vdab", ["work", "training"]), ("syntra", ["training"])):
            expect(
                self.http["handover"].post(
                    "/v1/partners",
                    json={
                        "partner_id": partner_id,
                        "name": partner_id.upper(),
                        "destinations": destinations,
                        "provinces": ["VBR", "ANT"],
                    },
                    headers=bearer("admin"),
                ),
                201,
            )
            self.ids["partner"].append(partner_id)

        teen = self.open_case(date(self.today.year - 16, 3, 3), "teen")
        teen = self.episode(teen, "health", "therapy", 40)
        child = self.open_case(date(self.today.year - 9, 5, 5), "child")
        child = self.episode(child, "school", "temporary_exclusion", 90)
        child = self.episode(child, "school", "temporary_exclusion", 3)
        child = self.change(child, "/block", {"blockers": ["waiting_list"], "domains": ["school"]})
        for case in (teen, child):
            self.ids["episode"] += [e["id"] for e in case["episodes"]]
            self.ids["break"] += [b["id"] for b in case["open_breaks"]]

        for steps in (
            [],
            ["consent"],
            ["consent", "offer"],
            ["consent", "offer", "accept"],
            ["consent", "offer", "accept", "meeting", "start"],
        ):
            self.handover(teen["id"], steps)

        def raised() -> Any:
            self.http["signals"].post("/v1/admin/settle", headers=bearer("admin"))
            found = self.http["signals"].get("/v1/signals", headers=bearer("analyst"))
            return found.status_code == 200 and [s["id"] for s in found.json()]

        self.ids["signal"] = until("a signal for the blocked case", raised)
        return self.ids


def seed(urls: dict[str, str]) -> dict[str, list[str]]:
    """Ids of real objects by kind: case, episode, break, handover, registration, signal."""
    seeder = Seeder(urls)
    try:
        return seeder.run()
    finally:
        seeder.close()
