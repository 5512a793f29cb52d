"""`brug intake import` waits and sends again when intake is busy (503) or rate-limits the
organisation (429), as the Retry-After says, with the same Idempotency-Key."""

from __future__ import annotations

import httpx
import pytest

from shared.cli.import_csv import import_rows

ROW = {"given_name": "Noor", "family_name": "Peeters", "birth_date": "2012-04-01"}


@pytest.mark.parametrize("busy", [429, 503])
async def test_a_busy_answer_is_retried_with_the_same_key(busy: int) -> None:
    keys: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        keys.append(request.headers["Idempotency-Key"])
        if len(keys) < 3:
            return httpx.Response(busy, headers={"Retry-After": "0"}, json={"detail": "busy"})
        return httpx.Response(202, json={"registration_id": "r-1"})

    outcome = await import_rows(
        [(2, ROW)], url="http://intake", token="t", concurrency=1,
        transport=httpx.MockTransport(answer),
    )  # fmt: skip
    assert outcome.registered == 1
    assert outcome.refused == []
    assert len(keys) == 3
    assert len(set(keys)) == 1


async def test_an_answer_that_stays_busy_is_reported_not_lost() -> None:
    def answer(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(503, headers={"Retry-After": "0"}, json={"detail": "busy"})

    outcome = await import_rows(
        [(7, ROW)], url="http://intake", token="t", concurrency=1,
        transport=httpx.MockTransport(answer),
    )  # fmt: skip
    assert outcome.registered == 0
    assert [line for line, _ in outcome.refused] == [7]
