"""registration.accepted becomes one case per young person (SPEC section 5, first slice)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import auth, running
from tests.factories import registration
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("brug_env")


async def register(intake: Any, body: dict[str, Any], org: str, key: str) -> dict[str, Any]:
    response = await intake.post(
        "/v1/registrations", json=body, headers={**auth(org=org), "Idempotency-Key": key}
    )
    assert response.status_code == 202, response.text
    return dict(response.json())


async def test_a_registration_opens_a_case_that_only_involved_organisations_see() -> None:
    async with running("intake") as intake, running("cases") as cases:
        answer = await register(intake, registration(), "clb-gent", "r1")

        async def found() -> Any:
            page = await cases.get(
                "/v1/cases", params={"person_ref": answer["person_ref"]}, headers=auth()
            )
            return page.json()["items"]

        [case] = await eventually(found)
        assert case["status"] == "open"
        assert case["province"] == "VBR"
        assert case["involved_orgs"] == ["clb-gent"]
        assert case["version"] == 1
        assert case["age"] >= 10

        one = await cases.get(f"/v1/cases/{case['id']}", headers=auth())
        assert one.status_code == 200
        assert one.headers["ETag"] == '"1"'
        stranger = await cases.get(f"/v1/cases/{case['id']}", headers=auth(org="caw-oost"))
        assert stranger.status_code == 404
        stranger_list = await cases.get(
            "/v1/cases", params={"person_ref": answer["person_ref"]}, headers=auth(org="caw-oost")
        )
        assert stranger_list.json()["items"] == []
        analyst = await cases.get(f"/v1/cases/{case['id']}", headers=auth(role="analyst"))
        assert analyst.status_code == 403


async def test_a_second_registration_joins_the_same_case() -> None:
    async with running("intake") as intake, running("cases") as cases:
        first = await register(intake, registration(), "clb-gent", "r1")
        second = await register(intake, registration(urgency="crisis"), "school-x", "r2")
        assert first["person_ref"] == second["person_ref"]

        async def joined() -> Any:
            page = await cases.get(
                "/v1/cases",
                params={"person_ref": first["person_ref"]},
                headers=auth(org="school-x"),
            )
            items = page.json()["items"]
            return items if items and len(items[0]["involved_orgs"]) == 2 else None

        [case] = await eventually(joined)
        assert sorted(case["involved_orgs"]) == ["clb-gent", "school-x"]
        assert case["version"] == 2
        all_cases = await cases.get("/v1/cases", headers=auth(org="clb-gent"))
        assert len(all_cases.json()["items"]) == 1


async def test_cases_are_listed_in_pages() -> None:
    async with running("intake") as intake, running("cases") as cases:
        for i in range(7):
            body = registration()
            body["person"] = {**body["person"], "national_id": None, "given_name": f"Kind{i}"}
            await register(intake, body, "clb-gent", f"p{i}")

        async def all_there() -> Any:
            page = await cases.get("/v1/cases", params={"limit": 1000}, headers=auth())
            return len(page.json()["items"]) == 7

        await eventually(all_there)
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 3}
            if cursor:
                params["cursor"] = cursor
            page = (await cases.get("/v1/cases", params=params, headers=auth())).json()
            seen += [c["id"] for c in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(set(seen)) == 7
        too_many = await cases.get("/v1/cases", params={"limit": 1001}, headers=auth())
        assert too_many.status_code == 422


async def test_a_registration_after_the_case_closed_opens_it_again() -> None:
    async with running("intake") as intake, running("cases") as cases:
        first = await register(intake, registration(), "clb-gent", "r1")

        async def found() -> Any:
            page = await cases.get(
                "/v1/cases", params={"person_ref": first["person_ref"]}, headers=auth()
            )
            return page.json()["items"]

        [case] = await eventually(found)
        closed = await cases.post(
            f"/v1/cases/{case['id']}/close", headers={**auth(), "If-Match": str(case["version"])}
        )
        assert closed.json()["status"] == "closed"
        await register(intake, registration(urgency="crisis"), "caw-oost", "r2")

        async def reopened() -> Any:
            now = (await cases.get(f"/v1/cases/{case['id']}", headers=auth())).json()
            return now if now["status"] == "open" else None

        now = await eventually(reopened)
        assert sorted(now["involved_orgs"]) == ["caw-oost", "clb-gent"]
        timeline = (await cases.get(f"/v1/cases/{case['id']}/timeline", headers=auth())).json()
        assert [t["change"] for t in timeline][-1] == "reopened"


async def test_retention_erases_a_long_closed_case_everywhere() -> None:
    from datetime import date, timedelta

    from sqlalchemy import text

    from shared.settings import get_settings

    async with running("intake") as intake, running("cases") as cases:
        answer = await register(intake, registration(), "clb-gent", "r1")

        async def found() -> Any:
            page = await cases.get(
                "/v1/cases", params={"person_ref": answer["person_ref"]}, headers=auth()
            )
            return page.json()["items"]

        [case] = await eventually(found)
        await cases.post(
            f"/v1/cases/{case['id']}/close", headers={**auth(), "If-Match": str(case["version"])}
        )
        admin = auth(role="admin", org="ops")
        days = get_settings().retention_days
        early = (date.today() + timedelta(days=days)).isoformat()
        late = (date.today() + timedelta(days=days + 1)).isoformat()
        assert (await cases.post(f"/v1/admin/retention?as_of={early}", headers=admin)).json()[
            "erased"
        ] == 0
        assert (await cases.post(f"/v1/admin/retention?as_of={late}", headers=admin)).json()[
            "erased"
        ] == 1
        assert (await cases.post(f"/v1/admin/retention?as_of={late}", headers=admin)).json()[
            "erased"
        ] == 0
        kept = (await cases.get(f"/v1/cases/{case['id']}", headers=auth())).json()
        assert kept["person_ref"] != answer["person_ref"]  # statistics stay, the person goes
        assert kept["episodes"] == []

        async def forgotten() -> bool:
            response = await intake.get(
                f"/v1/registrations/{answer['registration_id']}", headers=auth()
            )
            return response.status_code == 404

        await eventually(forgotten)
        async with intake.app.state.runtime.db.reading() as session:
            left = await session.scalar(
                text("SELECT count(*) FROM registrations WHERE person_ref = :p"),
                {"p": answer["person_ref"]},
            )
        assert left == 0
        again = await intake.post(
            "/v1/registrations", json=registration(), headers={**auth(), "Idempotency-Key": "r1"}
        )
        assert again.status_code == 202  # the old key went with the registration
