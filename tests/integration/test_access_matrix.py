"""Every endpoint for every role and organisation: who gets what (SPEC section 3), one table.

Organisations: `clb-gent` registered the case and sends the handover (own); `school-a`
provides an episode (involved); `caw-west` has nothing to do with it (stranger). Partners:
`vdab` was offered the handover, `syntra` was not.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from tests.conftest import auth, running
from tests.integration.cases_helpers import change, episode
from tests.integration.test_handover_flow import (
    consent_and_offer,
    early_leaver,
    make_partners,
)

pytestmark = pytest.mark.usefixtures("brug_env")
TODAY = date.today()

WHO = {
    "own": auth(org="clb-gent"),
    "involved": auth(org="school-a"),
    "stranger": auth(org="caw-west"),
    "partner": auth(role="partner", org="vdab"),
    "other-partner": auth(role="partner", org="syntra"),
    "analyst": auth(role="analyst", org="gov"),
    "admin": auth(role="admin", org="ops"),
}
# service, method, path, expected per caller (own, involved, stranger, partner, other-partner,
# analyst, admin)
MATRIX: list[tuple[str, str, str, tuple[int, ...]]] = [
    ("cases", "GET", "/v1/cases/{case}", (200, 200, 404, 403, 403, 403, 403)),
    ("cases", "GET", "/v1/cases/{case}/breaks", (200, 200, 404, 403, 403, 403, 403)),
    ("cases", "GET", "/v1/cases/{case}/timeline", (200, 200, 404, 403, 403, 403, 403)),
    ("cases", "GET", "/v1/cases", (200, 200, 200, 403, 403, 403, 403)),
    ("cases", "POST", "/v1/admin/sweep", (403, 403, 403, 403, 403, 403, 200)),
    ("intake", "GET", "/v1/registrations/{registration}", (200, 404, 404, 403, 403, 403, 403)),
    ("intake", "GET", "/v1/disclosures/{handover}", (403, 403, 403, 404, 404, 403, 403)),
    ("handover", "GET", "/v1/handovers/{handover}", (200, 404, 404, 200, 404, 403, 403)),
    ("handover", "GET", "/v1/handovers", (200, 200, 200, 200, 200, 403, 403)),
    ("handover", "GET", "/v1/handovers/metrics", (403, 403, 403, 403, 403, 200, 403)),
    ("handover", "GET", "/v1/partners", (200, 200, 200, 403, 403, 403, 200)),
    ("handover", "POST", "/v1/admin/sweep", (403, 403, 403, 403, 403, 403, 200)),
    ("signals", "GET", "/v1/signals", (403, 403, 403, 403, 403, 200, 403)),
    ("signals", "GET", "/v1/signals/export.csv", (403, 403, 403, 403, 403, 200, 403)),
    ("signals", "GET", "/dashboard", (403, 403, 403, 403, 403, 200, 403)),
    ("signals", "GET", "/v1/signals/for-case/{case}", (200, 200, 404, 403, 403, 403, 403)),
    ("signals", "POST", "/v1/admin/settle", (403, 403, 403, 403, 403, 403, 200)),
]


async def test_every_endpoint_for_every_role_and_organisation() -> None:
    async with (
        running("intake") as intake,
        running("cases") as cases,
        running("handover") as handover,
        running("signals") as signals,
    ):
        clients = {"intake": intake, "cases": cases, "handover": handover, "signals": signals}
        await make_partners(handover)
        case, proposal = await early_leaver(intake, cases, handover)
        await change(
            cases,
            case,
            "POST",
            "/episodes",
            episode("health", "therapy", TODAY, provider="school-a"),
        )
        hid = proposal["id"]
        await consent_and_offer(handover, hid)
        registrations = await intake.get("/v1/registrations/none", headers=WHO["own"])
        assert registrations.status_code == 404
        registration_id = await _registration_of(intake, case)
        ids = {"case": case["id"], "handover": hid, "registration": registration_id}

        # signals knows involvement once case events arrived
        async def signals_knows() -> bool:
            r = await signals.get(f"/v1/signals/for-case/{case['id']}", headers=WHO["own"])
            return r.status_code == 200

        from tests.waiting import eventually

        await eventually(signals_knows)
        failures = []
        for service, method, path, expected in MATRIX:
            url = path.format(**ids)
            for who, code in zip(WHO, expected, strict=True):
                response = await clients[service].request(method, url, headers=WHO[who])
                if response.status_code != code:
                    failures.append(
                        f"{method} {path} as {who}: {response.status_code}, expected {code}"
                    )
        assert not failures, "\n".join(failures)


async def _registration_of(intake: Any, case: dict[str, Any]) -> str:
    """The registration behind the case, as its registrant finds it (intake's own table)."""
    from sqlalchemy import text

    async with intake.app.state.runtime.db.reading() as session:
        return str(
            await session.scalar(
                text("SELECT id FROM registrations WHERE person_ref = :p"),
                {"p": case["person_ref"]},
            )
        )


@pytest.mark.parametrize("who", ["own", "involved", "stranger"])
async def test_a_case_worker_acts_on_a_handover_only_as_its_sender(who: str) -> None:
    async with (
        running("intake") as intake,
        running("cases") as cases,
        running("handover") as handover,
    ):
        await make_partners(handover)
        _, proposal = await early_leaver(intake, cases, handover)
        response = await handover.post(
            f"/v1/handovers/{proposal['id']}/consent",
            json={"given_by": "youth", "date": TODAY.isoformat(), "partner_id": "vdab"},
            headers=WHO[who],
        )
    assert response.status_code == (200 if who == "own" else 404)
