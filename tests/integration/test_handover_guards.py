"""What a partner is told about its own handovers, and the guards on consent and offers: no
second offer to a partner that said no, no offer for a closed case, the age rules under 12."""

from __future__ import annotations

from typing import Any

import pytest

from services.handover.workflow import Action
from tests.conftest import running
from tests.integration.test_handover_flow import SENDER, SYNTRA, VDAB, make_partners
from tests.integration.test_handover_states import (
    BODIES,
    CASE,
    propose,
    seed_case,
    step,
    through,
)
from tests.integration.test_handover_states import OFFER as CONSENT_AND_OFFER

pytestmark = pytest.mark.usefixtures("brug_env")


def consent_for(partner: str, given_by: str = "youth") -> dict[str, Any]:
    return {**BODIES[Action.consent], "partner_id": partner, "given_by": given_by}


def actions(view: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(s["action"], s["by"]) for s in view["next_steps"]]


async def test_a_partner_is_told_who_is_responsible_and_what_comes_next() -> None:
    async with running("handover") as handover:
        await make_partners(handover)
        await seed_case(handover)
        hid = await propose(handover)
        await through(handover, hid, *CONSENT_AND_OFFER)

        async def seen_by_vdab() -> dict[str, Any]:
            response = await handover.get(f"/v1/handovers/{hid}", headers=VDAB)
            assert response.status_code == 200, response.text
            return dict(response.json())

        offered = await seen_by_vdab()
        assert offered["responsible"] == "sender"
        assert offered["responsible_org"] is None  # where it comes from: only once accepted
        assert actions(offered) == [
            ("accept", ["partner"]),
            ("decline", ["partner"]),
            ("withdraw_consent", ["sender"]),
        ]
        await step(handover, hid, Action.accept, VDAB)
        accepted = await seen_by_vdab()
        assert (accepted["responsible"], accepted["responsible_org"]) == ("sender", "clb-gent")
        assert actions(accepted)[0] == ("meeting", ["partner", "sender"])
        await through(handover, hid, (Action.meeting, VDAB), (Action.start, VDAB))
        started = await seen_by_vdab()
        assert (started["responsible"], started["responsible_org"]) == ("partner", "vdab")
        assert [a for a, _ in actions(started)] == ["complete", "interrupt", "withdraw_consent"]
        listed = (await handover.get("/v1/handovers", headers=VDAB)).json()
        assert [(h["id"], h["responsible"]) for h in listed] == [(hid, "partner")]
        # Their own handovers only.
        assert (await handover.get(f"/v1/handovers/{hid}", headers=SYNTRA)).status_code == 404
        assert (await handover.get("/v1/handovers", headers=SYNTRA)).json() == []


async def test_a_partner_that_declined_is_not_asked_again_but_another_may_be() -> None:
    async with running("handover") as handover:
        await make_partners(handover)
        await seed_case(handover)
        hid = await propose(handover)
        await through(handover, hid, *CONSENT_AND_OFFER, (Action.decline, VDAB))
        again = await step(handover, hid, Action.consent, body=consent_for("vdab"))
        assert again.status_code == 409
        assert "vdab declined this handover" in again.json()["detail"]
        assert "another partner" in again.json()["detail"]
        view = (await handover.get(f"/v1/handovers/{hid}", headers=SENDER)).json()
        assert view["status"] == "declined"  # the refusal changed nothing
        assert view["consent"]["partner_id"] == "vdab"

        assert (await step(handover, hid, Action.consent, body=consent_for("syntra"))).json()[
            "status"
        ] == "consented"
        offered = await step(handover, hid, Action.offer, body={"partner_id": "syntra"})
        assert offered.status_code == 200
        assert offered.json()["partner_id"] == "syntra"
        await step(handover, hid, Action.decline, SYNTRA)
        for partner in ("vdab", "syntra"):  # each no stands
            refused = await step(handover, hid, Action.consent, body=consent_for(partner))
            assert refused.status_code == 409, partner
            assert f"{partner} declined" in refused.json()["detail"]


async def test_no_offer_once_the_case_is_closed() -> None:
    async with running("handover") as handover:
        await make_partners(handover)
        await seed_case(handover)
        hid = await propose(handover)
        assert (await step(handover, hid, Action.consent)).status_code == 200
        await seed_case(handover, CASE, closed=True)  # case.closed, as handover recorded it
        refused = await step(handover, hid, Action.offer)
        assert refused.status_code == 409
        assert "the case is closed" in refused.json()["detail"]
        view = (await handover.get(f"/v1/handovers/{hid}", headers=SENDER)).json()
        assert (view["status"], view["respond_by"]) == ("consented", None)
        assert (await handover.get(f"/v1/handovers/{hid}", headers=VDAB)).status_code == 404
        await seed_case(handover, CASE, closed=False)  # reopened: the offer may go
        assert (await step(handover, hid, Action.offer)).status_code == 200


@pytest.mark.parametrize("band", ["0-5", "6-11"])
async def test_under_twelve_parents_or_a_guardian_consent_never_the_child(band: str) -> None:
    async with running("handover") as handover:
        await make_partners(handover)
        await seed_case(handover, age_band=band)
        first, second = await propose(handover), await propose(handover)
        for child in ("youth", "youth_and_parents"):
            refused = await step(handover, first, Action.consent, body=consent_for("vdab", child))
            assert refused.status_code == 422, child
            [error] = refused.json()["detail"]
            assert error["field"] == "given_by"
            assert "under 12" in error["message"]
        for hid, adult in ((first, "parents"), (second, "guardian")):
            given = await step(handover, hid, Action.consent, body=consent_for("vdab", adult))
            assert given.status_code == 200, given.text
            assert given.json()["consent"]["given_by"] == adult
            assert given.json()["age_band"] == band
        assert (await step(handover, first, Action.offer)).json()["status"] == "offered"
