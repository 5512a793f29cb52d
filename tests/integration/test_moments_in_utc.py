"""Moments read back carry their zone on SQLite as on PostgreSQL: the APIs publish
`date-time` values, which need an offset (SQLite stores them without one)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tests.conftest import auth, running
from tests.factories import registration
from tests.waiting import eventually

pytestmark = pytest.mark.usefixtures("brug_env")


def aware(value: str) -> bool:
    return datetime.fromisoformat(value).utcoffset() is not None


async def test_every_moment_the_apis_give_has_an_offset() -> None:
    async with running("intake") as intake, running("cases") as cases:
        answer = (
            await intake.post(
                "/v1/registrations",
                json=registration(),
                headers={**auth(), "Idempotency-Key": "moment"},
            )
        ).json()
        registered = (
            await intake.get(f"/v1/registrations/{answer['registration_id']}", headers=auth())
        ).json()

        async def opened() -> Any:
            page = await cases.get(
                "/v1/cases", params={"person_ref": answer["person_ref"]}, headers=auth()
            )
            return page.json()["items"]

        [summary] = await eventually(opened)
        case = (await cases.get(f"/v1/cases/{summary['id']}", headers=auth())).json()
        timeline = (await cases.get(f"/v1/cases/{summary['id']}/timeline", headers=auth())).json()
    assert aware(registered["registered_at"]), registered["registered_at"]
    assert aware(case["opened_at"]), case["opened_at"]
    assert timeline
    assert all(aware(entry["at"]) for entry in timeline), timeline
