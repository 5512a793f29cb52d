"""The handover list in pages: nothing a sender or partner has is cut off."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import running
from tests.integration.test_handover_flow import SENDER
from tests.integration.test_handover_states import seed_case

pytestmark = pytest.mark.usefixtures("brug_env")


async def test_every_handover_is_reached_page_by_page() -> None:
    async with running("handover") as handover:
        await seed_case(handover)
        proposed = []
        for goal in ("job", "qualification", "job", "qualification", "job"):
            answer = await handover.post(
                "/v1/handovers",
                json={"case_id": "case-1", "destination": "work", "goal": goal},
                headers=SENDER,
            )
            assert answer.status_code == 201, answer.text
            proposed.append(answer.json()["id"])
        pages: list[list[str]] = []
        params: dict[str, Any] = {"limit": 2}
        while True:
            page = await handover.get("/v1/handovers", params=params, headers=SENDER)
            assert page.status_code == 200, page.text
            pages.append([h["id"] for h in page.json()])
            if "X-Next-Cursor" not in page.headers:
                break
            params = {"limit": 2, "cursor": page.headers["X-Next-Cursor"]}
        everything = (await handover.get("/v1/handovers", headers=SENDER)).json()
        too_many = await handover.get("/v1/handovers", params={"limit": 1001}, headers=SENDER)
        forged = await handover.get("/v1/handovers", params={"cursor": "x"}, headers=SENDER)
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [i for p in pages for i in p] == [h["id"] for h in everything]
    assert sorted(h["id"] for h in everything) == sorted(proposed)
    assert too_many.status_code == 422
    assert too_many.json()["detail"][0]["field"] == "limit"
    assert forged.status_code == 422
    assert forged.json()["detail"][0]["field"] == "cursor"
