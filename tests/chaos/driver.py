"""Plays the stories against the services, and writes down in the ledger only what they
acknowledged, or what reading back proved they did when a kill took the answer.

Retries: a registration is repeated with the same Idempotency-Key. A case change carries
If-Match and a token whose `sub` names this one action, so when an answer is lost the case's
timeline says whether it was applied (then it is not sent again); on 412 the version is read
again. A handover step carries If-Match too, and a lost answer is settled by reading the
handover's state. A proposal, which has no key, is found by listing the case's handovers.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, date, datetime
from typing import Any

import httpx

from services.cases.inbound import handover_episode_id
from tests.chaos.client import ADMIN, Api, GaveUp, Stats, headers
from tests.chaos.ledger import CaseTruth, EpisodeTruth, HandoverTruth, Ledger, RegistrationTruth
from tests.chaos.plans import PARTNERS, Step, Story
from tests.chaos.steps import apply_step, cancel_on_close, expected_after


class Refused(Exception):
    """A step the harness expected to pass was refused (a 4xx that no retry explains)."""


def utc_today() -> date:
    """The services' today: the day they put on a block, an unblock or a close."""
    return datetime.now(UTC).date()


def day(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


class Driver:
    def __init__(self, api: Api, ledger: Ledger, stats: Stats, today: date) -> None:
        self.api, self.ledger, self.stats, self.today = api, ledger, stats, today
        self.action_ids = itertools.count(1)
        self.handover_versions: dict[str, int] = {}

    async def create_partners(self) -> None:
        for partner in PARTNERS:
            body = {**partner, "name": partner["partner_id"].upper(), "response_days": 10}
            response = await self.api.call(
                "handover", "POST", "/v1/partners", json=body, headers=ADMIN
            )
            # 409: a retried creation whose first answer was lost.
            if response.status_code not in (201, 409):
                raise Refused(f"partner {partner['partner_id']}: {response.text}")

    async def play(self, story: Story) -> None:
        slots: dict[int, str] = {}
        case: CaseTruth | None = None
        loop = asyncio.get_running_loop()
        for step in story.steps:
            started = loop.time()
            try:
                case = await self.do(step, story, case, slots)
            except (GaveUp, Refused, AssertionError, httpx.HTTPError) as exc:
                self.ledger.violation(f"person {story.person.index}, {step.kind}: {exc}")
                return
            self.stats.timings[step_label(step)].append(loop.time() - started)
            if step.kind != "await_proposal":
                self.stats.actions += 1

    async def do(
        self, step: Step, story: Story, case: CaseTruth | None, slots: dict[int, str]
    ) -> CaseTruth | None:
        a = step.args
        if step.kind == "register":
            return await self.register(story, case, a["org"], a["key"], a["body"])
        assert case is not None
        assert case.case_id is not None
        if step.kind == "add_episode":
            body = {k: v for k, v in a.items() if k != "slot"}
            view = await self.change(case, "POST", "/episodes", body)
            slots[a["slot"]] = self.new_episode(case, view, body)
        elif step.kind == "end_episode":
            episode = case.episodes[slots[a["slot"]]]
            body = {"end_date": a["end_date"], "outcome": a["outcome"]}
            await self.change(case, "POST", f"/episodes/{episode.id}/end", body)
            episode.end_date, episode.outcome = a["end_date"], a["outcome"]
        elif step.kind == "key_worker":
            await self.change(case, "PUT", "/key-worker", {"org": a["org"], "worker": a["worker"]})
            case.key_worker = (a["org"], a["worker"])
            case.orgs.add(a["org"])
        elif step.kind == "block":
            await self.change(case, "POST", "/block", a)
            case.block(utc_today(), a)
        elif step.kind == "unblock":
            await self.change(case, "POST", "/unblock", None)
            case.unblock(utc_today())
        elif step.kind == "close":
            await self.knows_every_registration(case)
            await self.change(case, "POST", "/close", None)
            case.close(utc_today())
            for handover_id in case.handovers:  # cases tells handover, which cancels
                cancel_on_close(self.ledger.handovers[handover_id])
        elif step.kind == "propose":
            await self.propose(case, a["destination"], a["goal"])
        elif step.kind == "await_proposal":
            await self.await_proposal(case)
        elif step.kind == "hstep":
            await self.handover_step(case, a)
        else:
            raise AssertionError(step.kind)
        return case

    # --- registrations -------------------------------------------------------------------

    async def register(
        self, story: Story, case: CaseTruth | None, org: str, key: str, body: dict[str, Any]
    ) -> CaseTruth:
        person = story.person
        response = await self.api.call(
            "intake",
            "POST",
            "/v1/registrations",
            json=body,
            headers={**headers(org=org, sub=f"{org}-worker"), "Idempotency-Key": key},
        )
        if response.status_code != 202:
            raise Refused(f"registration {key}: {response.status_code} {response.text}")
        if response.headers.get("Idempotent-Replayed") == "true":
            # The first answer was lost; the same key found the registration applied.
            self.stats.recover("registration")
        else:
            self.stats.acknowledged += 1
        answer = response.json()
        self.ledger.registrations.append(
            RegistrationTruth(
                person.index, org, key, answer["registration_id"], answer["person_ref"]
            )
        )
        if case is not None:
            if answer["person_ref"] != case.person_ref:
                raise Refused(f"registration {key}: another person_ref for the same person")
            case.orgs.add(org)
            if case.status == "closed":
                case.status = "open"  # registered again: the case opens again
            return case
        case = CaseTruth(
            person.index,
            answer["person_ref"],
            person.birth_date,
            person.province,
            org,
            orgs={org},
        )
        self.ledger.cases[person.index] = case

        async def opened() -> Any:
            page = await self.api.get(
                "cases",
                "/v1/cases",
                params={"person_ref": case.person_ref},
                headers=headers(org=org),
            )
            return page["items"]

        [found] = await self.api.poll(f"case of registration {key}", opened)
        case.case_id, case.version = found["id"], found["version"]
        return case

    async def knows_every_registration(self, case: CaseTruth) -> None:
        """Close only a case that shows every organisation that registered the young person,
        as the case worker closing it would see them. A registration still travelling when
        the case closes opens it again on arrival, so the outcome would hang on timing."""

        async def complete() -> bool:
            return set((await self.read_case(case))["involved_orgs"]) >= case.orgs

        await self.api.poll(f"case {case.case_id}: every registration", complete)

    # --- case changes --------------------------------------------------------------------

    async def read_case(self, case: CaseTruth) -> dict[str, Any]:
        view: dict[str, Any] = await self.api.get(
            "cases", f"/v1/cases/{case.case_id}", headers=headers(org=case.registrant_org)
        )
        case.version = view["version"]
        return view

    async def applied(self, case: CaseTruth, sub: str) -> bool:
        timeline = await self.api.get(
            "cases", f"/v1/cases/{case.case_id}/timeline", headers=headers(org=case.registrant_org)
        )
        return any(entry["actor_sub"] == sub for entry in timeline)

    async def change(self, case: CaseTruth, method: str, path: str, body: Any) -> dict[str, Any]:
        """One change of the case, applied exactly once whatever is killed meanwhile."""
        sub = f"chaos-action-{next(self.action_ids)}"
        who = headers(org=case.registrant_org, sub=sub)
        url = f"/v1/cases/{case.case_id}{path}"
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.api.deadline
        unknown, attempt = False, 0
        while loop.time() < give_up:
            response = await self.api.once(
                "cases",
                method,
                url,
                json=_jsonable(body),
                headers={**who, "If-Match": str(case.version)},
            )
            if response is not None and response.status_code < 300:
                self.stats.acknowledged += 1
                view: dict[str, Any] = response.json()
                case.version = view["version"]
                return view
            if response is None:
                unknown = True
                await self.api.backoff(attempt)
                attempt += 1
            elif response.status_code == 412:
                self.stats.stale += 1
            elif not unknown:
                raise Refused(f"{method} {path}: {response.status_code} {response.text}")
            if unknown and await self.applied(case, sub):
                self.stats.recover("case change")
                return await self.read_case(case)
            if response is not None and response.status_code != 412:
                raise Refused(f"{method} {path}: {response.status_code} {response.text}")
            await self.read_case(case)
        raise GaveUp(f"{method} {path}: not applied in {self.api.deadline:.0f} s")

    def new_episode(self, case: CaseTruth, view: dict[str, Any], body: dict[str, Any]) -> str:
        """The id of the episode just added: the one the ledger does not know yet."""
        known = set(case.episodes) | {handover_episode_id(h) for h in case.handovers}
        truth = EpisodeTruth(
            "",
            body["domain"],
            body["kind"],
            body["provider_org"],
            body["start_date"],
            body.get("end_date"),
            body.get("outcome"),
            body.get("planned_end_date"),
        )
        for episode in view["episodes"]:
            if episode["id"] in known:
                continue
            found = EpisodeTruth(
                episode["id"],
                episode["domain"],
                episode["kind"],
                episode["provider_org"],
                day(episode["start_date"]),  # type: ignore[arg-type]
                day(episode["end_date"]),
                episode["outcome"],
                day(episode["planned_end_date"]),
            )
            if found.fields() == truth.fields():
                case.episodes[found.id] = found
                case.orgs.add(found.provider_org)
                return found.id
        raise Refused(f"the episode added is not in the case: {body}")

    # --- handovers -----------------------------------------------------------------------

    async def list_handovers(self, case: CaseTruth, sender: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = await self.api.get(
            "handover",
            "/v1/handovers",
            params={"case_id": case.case_id},
            headers=headers(org=sender),
        )
        return found

    def adopt(self, case: CaseTruth, view: dict[str, Any], automatic: bool) -> HandoverTruth:
        truth = HandoverTruth(
            view["id"],
            view["case_id"],
            case.person_index,
            view["sender_org"],
            view["destination"],
            view["goal"],
            automatic,
        )
        self.ledger.handovers[truth.id] = truth
        self.handover_versions[truth.id] = view["version"]
        case.handovers.append(truth.id)
        return truth

    async def propose(self, case: CaseTruth, destination: str, goal: str) -> None:
        sender = case.sender_org
        body = {"case_id": case.case_id, "destination": destination, "goal": goal}
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.api.deadline
        unknown, attempt = False, 0
        while loop.time() < give_up:
            if unknown:
                new = [
                    h
                    for h in await self.list_handovers(case, sender)
                    if h["id"] not in case.handovers
                ]
                if new:
                    self.stats.recover("proposal")
                    self.adopt(case, new[0], automatic=False)
                    return
            response = await self.api.once(
                "handover", "POST", "/v1/handovers", json=body, headers=headers(org=sender)
            )
            if response is None:
                unknown = True
                await self.api.backoff(attempt)
                attempt += 1
            elif response.status_code == 201:
                self.stats.acknowledged += 1
                self.adopt(case, response.json(), automatic=False)
                return
            elif response.status_code == 404:
                # Handover learns of the case, and of the key worker, by event: wait for it.
                self.stats.waits += 1
                await asyncio.sleep(0.3)
            else:
                raise Refused(f"propose: {response.status_code} {response.text}")
        raise GaveUp(f"propose: no handover in {self.api.deadline:.0f} s")

    async def await_proposal(self, case: CaseTruth) -> None:
        """Dropping out at 15 or more makes brug propose a handover by itself."""
        sender = case.sender_org

        async def proposed() -> list[dict[str, Any]]:
            return [
                h for h in await self.list_handovers(case, sender) if h["id"] not in case.handovers
            ]

        found = await self.api.poll("the early-leaving proposal", proposed)
        if len(found) != 1:
            raise Refused(f"{len(found)} early-leaving proposals for one drop-out")
        self.adopt(case, found[0], automatic=True)

    async def read_handover(self, truth: HandoverTruth, who: dict[str, str]) -> dict[str, Any]:
        view: dict[str, Any] = await self.api.get(
            "handover", f"/v1/handovers/{truth.id}", headers=who
        )
        self.handover_versions[truth.id] = view["version"]
        return view

    async def handover_step(self, case: CaseTruth, a: dict[str, Any]) -> None:
        truth = self.ledger.handovers[case.handovers[-1]]
        action = a["action"]
        body: dict[str, Any] | None = None
        if action == "consent":
            body = {
                "given_by": "youth",
                "date": self.today.isoformat(),
                "partner_id": a["partner"],
                "shared_fields": a["fields"],
            }
        elif action == "offer":
            body = {"partner_id": a["partner"]}
        elif action == "decline":
            body = {"reason": a["reason"]}
        elif action == "interrupt":
            body = {"reason": a["reason"]}
        elif action == "meeting":
            body = {
                "date": a["date"].isoformat(),
                "participants": ["sender", "receiver", "young_person"],
            }
        elif action == "start":
            body = {"start_date": a["date"].isoformat()}
        org = truth.sender_org if a["who"] == "sender" else truth.partner_id
        assert org is not None
        role = "case_worker" if a["who"] == "sender" else "partner"
        who = headers(role=role, org=org, sub=f"{org}-chaos")
        target = expected_after(truth, a)
        path = f"/v1/handovers/{truth.id}/{action.replace('_', '-')}"
        loop = asyncio.get_running_loop()
        give_up = loop.time() + self.api.deadline
        unknown, attempt = False, 0
        while True:
            if loop.time() > give_up:
                raise GaveUp(f"{action}: not applied in {self.api.deadline:.0f} s")
            version = self.handover_versions[truth.id]
            response = await self.api.once(
                "handover", "POST", path, json=body, headers={**who, "If-Match": str(version)}
            )
            if response is not None and response.status_code == 200:
                self.stats.acknowledged += 1
                self.handover_versions[truth.id] = response.json()["version"]
                break
            if response is None:
                unknown = True
                await self.api.backoff(attempt)
                attempt += 1
            elif response.status_code == 412:
                self.stats.stale += 1
            elif not unknown:
                raise Refused(f"{action}: {response.status_code} {response.text}")
            view = await self.read_handover(truth, who)
            if unknown and target(view):
                self.stats.recover("handover step")
                break
            if response is not None and response.status_code != 412:
                raise Refused(f"{action}: {response.status_code} {response.text}")
        apply_step(truth, case, a, self.today)


def step_label(step: Step) -> str:
    """What a case worker or partner would call the step: a handover step by its action."""
    return f"handover {step.args['action']}" if step.kind == "hstep" else step.kind


def _jsonable(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: _jsonable(v) for k, v in body.items()}
    if isinstance(body, list):
        return [_jsonable(v) for v in body]
    if isinstance(body, date):
        return body.isoformat()
    return body
