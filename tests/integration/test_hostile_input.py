"""Hostile input gets a clear 4xx, never a 500: extreme dates, odd If-Match values, NUL
characters, episodes before birth (found by review; kept as regression tests)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from tests.conftest import auth, running
from tests.factories import registration
from tests.integration.cases_helpers import change, episode, open_case

pytestmark = pytest.mark.usefixtures("brug_env")
TODAY = date.today()


@pytest.mark.parametrize(
    "body",
    [
        episode("health", "therapy", date(9999, 12, 31)),
        episode("health", "therapy", TODAY, date(9999, 12, 20), "completed"),
        episode("health", "therapy", date(1, 1, 1)),
        {**episode("health", "therapy", TODAY), "provider_org": "a\x00b"},
        episode("health", "therapy", date(1990, 1, 1)),  # before the young person was born
    ],
)
async def test_bad_episodes_are_refused_without_a_500(body: dict[str, Any]) -> None:
    async with running("intake") as intake, running("cases") as cases:
        case = await open_case(intake, cases, birth=date(TODAY.year - 9, 1, 1))
        response = await change(cases, case, "POST", "/episodes", body)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("value", ["²", "1" * 5000, "W/", '""', "-1", "1.0"])
async def test_odd_if_match_values_get_422(value: str) -> None:
    async with running("intake") as intake, running("cases") as cases:
        case = await open_case(intake, cases, birth=date(TODAY.year - 9, 1, 1))
        response = await cases.put(
            f"/v1/cases/{case['id']}/key-worker",
            json={"org": "clb-gent", "worker": "w"},
            headers={**auth(), "If-Match": value.encode("latin-1", "replace")},
        )
    assert response.status_code == 422


async def test_nul_characters_are_refused_everywhere() -> None:
    body = registration()
    body["summary"] = "a\x00b"
    async with running("intake") as intake, running("cases") as cases:
        in_body = await intake.post(
            "/v1/registrations", json=body, headers={**auth(), "Idempotency-Key": "nul"}
        )
        in_path = await cases.get("/v1/cases/a%00b", headers=auth())
        in_query = await cases.get("/v1/cases?person_ref=a%00b", headers=auth())
    for response in (in_body, in_path, in_query):
        assert response.status_code == 422
        assert "NUL" in response.json()["detail"][0]["message"]


@pytest.mark.parametrize("as_of", ["0001-01-01", "9999-12-31", "2026-02-30"])
async def test_sweeps_refuse_dates_out_of_range(as_of: str) -> None:
    admin = auth(role="admin", org="ops")
    async with (
        running("cases") as cases,
        running("handover") as handover,
        running("signals") as signals,
    ):
        for client, path in (
            (cases, "/v1/admin/sweep"),
            (handover, "/v1/admin/sweep"),
            (signals, "/v1/admin/settle"),
        ):
            response = await client.post(f"{path}?as_of={as_of}", headers=admin)
            assert response.status_code == 422, (path, response.text)


async def test_a_start_far_in_the_future_is_refused_by_the_handover_api() -> None:
    async with running("handover") as handover:
        response = await handover.post(
            "/v1/handovers/x/start",
            json={"start_date": "9999-12-31"},
            headers=auth(role="partner", org="vdab"),
        )
    assert response.status_code == 422
    assert (TODAY + timedelta(days=1)).year < 9999


async def test_writes_are_rate_limited_per_organisation(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared.settings import get_settings

    monkeypatch.setenv("BRUG_RATE_LIMIT_PER_MINUTE", "3")
    get_settings.cache_clear()
    async with running("intake") as intake:
        codes = []
        for i in range(4):
            response = await intake.post(
                "/v1/registrations",
                json=registration(),
                headers={**auth(), "Idempotency-Key": f"rate-{i}"},
            )
            codes.append(response.status_code)
        assert codes == [202, 202, 202, 429]
        assert 0 < int(response.headers["Retry-After"]) <= 60
        other = await intake.post(
            "/v1/registrations",
            json=registration(),
            headers={**auth(org="caw-oost"), "Idempotency-Key": "rate-x"},
        )
        assert other.status_code == 202  # another organisation has its own count
        reads = await intake.get("/v1/registrations/nope", headers=auth())
        assert reads.status_code == 404  # reads are not limited
