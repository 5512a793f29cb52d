"""The handover service alone, one handover in each state it can reach: every step the table
forbids is refused with the allowed ones, lists filter and narrow as they should, metrics
count where handovers stopped, and the guards on offering and consent hold.

Cases are known to handover from case events; here their references are written straight
into handover's database, which keeps these tests to one service and a second or two.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest

from services.handover.models import CaseRef
from services.handover.workflow import (
    TRANSITIONS,
    Action,
    Actor,
    Status,
    TransitionRefused,
    next_steps,
)
from shared.settings import get_settings
from tests.conftest import auth, running
from tests.integration.test_handover_flow import ADMIN, SENDER, SYNTRA, VDAB, make_partners

pytestmark = pytest.mark.usefixtures("brug_env")
TODAY = date.today()
CASE = "case-1"
OTHER_CASE = "case-2"
MEETING = {"date": TODAY.isoformat(), "participants": ["sender", "receiver", "young_person"]}
# A valid body for every step the API takes, so that only the state can refuse it.
BODIES: dict[Action, Any] = {
    Action.consent: {"given_by": "youth", "date": TODAY.isoformat(), "partner_id": "vdab"},
    Action.offer: {"partner_id": "vdab"},
    Action.decline: {"reason": "no_capacity"},
    Action.meeting: MEETING,
    Action.start: {"start_date": TODAY.isoformat()},
    Action.interrupt: {"reason": "moved"},
}
# Every action of the table has a door, but expiry: only the sweep expires offers.
API_ACTIONS = [a for a in Action if a is not Action.expire]
# What a partner may see of a handover, and nothing more.
PARTNER_FIELDS = {
    "id",
    "status",
    "responsible",
    "responsible_org",
    "destination",
    "goal",
    "province",
    "age_band",
    "respond_by",
    "meeting_date",
    "start_date",
    "shared_fields",
    "next_steps",
    "version",
}


async def seed_case(
    handover: Any, case_id: str = CASE, age_band: str = "12-17", closed: bool = False
) -> None:
    """What case.opened would have told handover: clb-gent registered a case in VBR."""
    async with handover.app.state.runtime.db.transaction() as session:
        ref = await session.get(CaseRef, case_id)
        if ref is None:
            ref = CaseRef(
                case_id=case_id,
                province="VBR",
                age_band=age_band,
                registrant_org="clb-gent",
                involved_orgs=["clb-gent"],
            )
        ref.closed = closed
        session.add(ref)


def path(action: Action) -> str:
    return action.value.replace("_", "-")


async def step(
    handover: Any, hid: str, action: Action, who: dict[str, str] = SENDER, body: Any = None
) -> Any:
    return await handover.post(
        f"/v1/handovers/{hid}/{path(action)}", json=body or BODIES.get(action), headers=who
    )


async def propose(handover: Any, case_id: str = CASE, destination: str = "training") -> str:
    response = await handover.post(
        "/v1/handovers",
        json={"case_id": case_id, "destination": destination, "goal": "orientation"},
        headers=SENDER,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def through(handover: Any, hid: str, *steps: tuple[Action, dict[str, str]]) -> None:
    for action, who in steps:
        response = await step(handover, hid, action, who)
        assert response.status_code == 200, (action, response.text)


OFFER = ((Action.consent, SENDER), (Action.offer, SENDER))
START = (
    *OFFER,
    (Action.accept, VDAB),
    (Action.meeting, VDAB),
    (Action.start, VDAB),
)


@dataclass
class States:
    handover: Any
    ids: dict[Status, str]  # one handover (to vdab) in each state
    to_syntra: str  # one offered to syntra
    other_case: str  # one proposed on another case


async def build_states(handover: Any) -> States:
    await make_partners(handover)
    await seed_case(handover)
    await seed_case(handover, OTHER_CASE)
    ids: dict[Status, str] = {}
    # First, alone on offer: the sweep expires every offer past its time.
    ids[Status.expired] = await propose(handover)
    await through(handover, ids[Status.expired], *OFFER)
    late = (TODAY + timedelta(days=30)).isoformat()
    swept = await handover.post(f"/v1/admin/sweep?as_of={late}", headers=ADMIN)
    assert swept.json()["expired"] == 1
    paths: dict[Status, tuple[tuple[Action, dict[str, str]], ...]] = {
        Status.proposed: (),
        Status.consented: OFFER[:1],
        Status.offered: OFFER,
        Status.accepted: (*OFFER, (Action.accept, VDAB)),
        Status.meeting_scheduled: START[:-1],
        Status.started: START,
        Status.completed: (*START, (Action.complete, VDAB)),
        Status.interrupted: (*START, (Action.interrupt, VDAB)),
        Status.declined: (*OFFER, (Action.decline, VDAB)),
        Status.withdrawn: (*OFFER[:1], (Action.withdraw_consent, SENDER)),
        Status.cancelled: ((Action.cancel, SENDER),),
    }
    for status, steps in paths.items():
        ids[status] = await propose(handover)
        await through(handover, ids[status], *steps)
    assert set(ids) == set(Status)  # every state of the table is here
    to_syntra = await propose(handover)
    syntra = {"given_by": "youth", "date": TODAY.isoformat(), "partner_id": "syntra"}
    assert (await step(handover, to_syntra, Action.consent, body=syntra)).status_code == 200
    offered = await step(handover, to_syntra, Action.offer, body={"partner_id": "syntra"})
    assert offered.status_code == 200
    return States(handover, ids, to_syntra, await propose(handover, OTHER_CASE))


@pytest.fixture
async def states() -> AsyncIterator[States]:
    async with running("handover") as handover:
        yield await build_states(handover)


@pytest.fixture
def k_of_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Show every count, however small (before the service starts)."""
    monkeypatch.setenv("BRUG_SIGNAL_MIN_CASES", "1")
    get_settings.cache_clear()


async def test_every_step_the_table_forbids_gets_409_with_the_allowed_steps(
    states: States,
) -> None:
    handover = states.handover
    wrong: list[str] = []
    tried = 0
    for status, hid in states.ids.items():
        before = (await handover.get(f"/v1/handovers/{hid}", headers=SENDER)).json()
        assert before["status"] == status.value
        partner_sees = (await handover.get(f"/v1/handovers/{hid}", headers=VDAB)).status_code
        actors = {Actor.sender: SENDER} | ({Actor.partner: VDAB} if partner_sees == 200 else {})
        for action in API_ACTIONS:
            for actor, who in actors.items():
                allowed = TRANSITIONS.get((status, action))
                if allowed is not None and actor in allowed[1]:
                    continue
                tried += 1
                response = await step(handover, hid, action, who)
                detail = response.json().get("detail")
                expected = str(TransitionRefused(status, action, actor))
                if response.status_code != 409 or detail != expected:
                    wrong.append(f"{status}/{action} by {actor}: {response.status_code} {detail}")
                    continue
                named = detail.split("allowed next steps: ")[1]
                for allowed_action, _ in next_steps(status):
                    if allowed_action.value not in named:
                        wrong.append(f"{status}/{action}: {allowed_action} not named")
        after = (await handover.get(f"/v1/handovers/{hid}", headers=SENDER)).json()
        if after["version"] != before["version"] or after["status"] != before["status"]:
            wrong.append(f"{status}: a refused step changed the handover")
    assert not wrong, "\n".join(wrong)
    assert tried > 150  # every state, every door, both sides where the partner sees it


async def test_lists_filter_by_status_and_a_partner_sees_only_its_own_narrowly(
    states: States,
) -> None:
    handover = states.handover

    async def listed(who: dict[str, str], **params: str) -> list[dict[str, Any]]:
        response = await handover.get("/v1/handovers", params=params, headers=who)
        assert response.status_code == 200, response.text
        return list(response.json())

    for status, hid in states.ids.items():
        found = await listed(SENDER, status=status.value, case_id=CASE)
        expected = {hid, states.to_syntra} if status is Status.offered else {hid}
        assert {h["id"] for h in found} == expected, status
        assert {h["status"] for h in found} == {status.value}
    everything = await listed(SENDER)
    assert len(everything) == len(states.ids) + 2
    [other] = await listed(SENDER, case_id=OTHER_CASE, status="proposed")
    assert other["id"] == states.other_case
    assert await listed(SENDER, case_id=OTHER_CASE, status="offered") == []
    bogus = await handover.get("/v1/handovers", params={"status": "lost"}, headers=SENDER)
    assert bogus.status_code == 422
    assert await listed(auth(org="caw-west")) == []  # another organisation's sender

    # vdab sees what was offered to it, whatever became of it; never syntra's or a proposal.
    offered_to_vdab = {
        s: h
        for s, h in states.ids.items()
        if s not in (Status.proposed, Status.consented, Status.withdrawn, Status.cancelled)
    }
    mine = await listed(VDAB)
    assert {h["id"] for h in mine} == set(offered_to_vdab.values())
    for view in mine:
        assert set(view) == PARTNER_FIELDS  # no case, no sender, no consent details
    [declined] = await listed(VDAB, status="declined")
    assert declined["id"] == states.ids[Status.declined]
    assert await listed(VDAB, status="proposed") == []
    [theirs] = await listed(SYNTRA)
    assert theirs["id"] == states.to_syntra
    assert await listed(SYNTRA, case_id=CASE, status="declined") == []


async def test_metrics_count_each_stopped_handover_at_the_step_it_stopped(
    k_of_one: None, states: States
) -> None:
    response = await states.handover.get("/v1/handovers/metrics", headers=auth(role="analyst"))
    [row] = response.json()
    stopped = {step: count["value"] for step, count in row["stopped_at"].items()}
    assert stopped == {
        "proposed": 1,  # cancelled before consent
        "consented": 1,  # consent withdrawn before the offer
        "offered": 2,  # declined, expired
        "accepted": 0,
        "meeting_scheduled": 0,
        "started": 1,  # interrupted
    }
    ended = {end: count["value"] for end, count in row["ended_as"].items()}
    assert ended == {
        "declined": 1,
        "expired": 1,
        "withdrawn": 1,
        "cancelled": 1,
        "interrupted": 1,
    }
    assert row["handovers"]["value"] == len(states.ids) + 2


async def test_metrics_still_hide_small_counts(states: States) -> None:
    response = await states.handover.get("/v1/handovers/metrics", headers=auth(role="analyst"))
    [row] = response.json()
    assert row["stopped_at"]["offered"] == {"value": None, "suppressed": True}  # 2 < k = 5
    assert row["stopped_at"]["accepted"] == {"value": 0, "suppressed": False}
    assert row["handovers"] == {"value": len(states.ids) + 2, "suppressed": False}
