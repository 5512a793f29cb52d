"""Webhook delivery: Standard Webhooks signatures, retries with backoff, dead letters."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import pytest
import redis.asyncio as aioredis
import uvicorn
from standardwebhooks.webhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from shared.cli.infra import free_port
from shared.events.streams import deadletter_stream, service_stream
from tests.conftest import running
from tests.integration.test_handover_flow import ADMIN, consent_and_offer, early_leaver
from tests.waiting import eventually

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TODAY = date.today()


class Receiver:
    """A partner's webhook endpoint that fails `failures` times, then takes everything."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.requests: list[tuple[dict[str, str], bytes]] = []

    async def hook(self, request: Request) -> Response:
        self.requests.append((dict(request.headers), await request.body()))
        if len(self.requests) <= self.failures:
            return Response(status_code=503)
        return Response(status_code=204)


@pytest.fixture
async def receiver(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Receiver, str]]:
    hook = Receiver(failures=getattr(request, "param", 3))
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=[Route("/hook", hook.hook, methods=["POST"])]),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield hook, f"http://127.0.0.1:{port}/hook"
    server.should_exit = True
    await task


async def offer_to_webhook_partner(intake: Any, cases: Any, handover: Any, url: str) -> str:
    response = await handover.post(
        "/v1/partners",
        json={
            "partner_id": "hooked",
            "name": "Hooked",
            "destinations": ["training", "work"],
            "provinces": ["VBR"],
            "stream": False,
            "webhook": {"url": url, "secret": SECRET},
        },
        headers=ADMIN,
    )
    assert response.status_code == 201, response.text
    _, proposal = await early_leaver(intake, cases, handover)
    hid = str(proposal["id"])
    await consent_and_offer(handover, hid, partner="hooked")
    return hid


async def test_a_webhook_failing_three_times_gets_the_fourth_delivery_signed(
    brug_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    receiver: tuple[Receiver, str],
) -> None:
    from shared.settings import get_settings

    monkeypatch.setenv("BRUG_WEBHOOK_RETRY_SECONDS", "[0.1, 0.2, 0.3, 0.4, 0.5]")
    get_settings.cache_clear()
    hook, url = receiver
    async with (
        running("intake") as intake,
        running("cases") as cases,
        running("handover") as handover,
    ):
        hid = await offer_to_webhook_partner(intake, cases, handover, url)
        await eventually(lambda: asyncio.sleep(0, len(hook.requests) >= 4), timeout=15)
    ids = {headers["webhook-id"] for headers, _ in hook.requests}
    assert len(ids) == 1  # one event, one id, however many attempts
    headers, body = hook.requests[3]
    event = Webhook(SECRET).verify(body, headers)  # raises if the signature is wrong
    assert event["type"] == "brug.partner.offer.v1"
    assert event["data"]["handover_id"] == hid
    assert set(event["data"]) == {
        "handover_id",
        "destination",
        "goal",
        "province",
        "age_band",
        "respond_by",
    }
    forged = dict(headers, **{"webhook-signature": "v1,AAAA"})
    with pytest.raises(Exception, match=r"(?i)signature"):
        Webhook(SECRET).verify(body, forged)


@pytest.mark.parametrize("receiver", [1000], indirect=True)
async def test_a_webhook_that_never_answers_ends_in_the_dead_letters_with_an_alert(
    brug_env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    receiver: tuple[Receiver, str],
    redis: aioredis.Redis,
) -> None:
    from shared.settings import get_settings

    monkeypatch.setenv("BRUG_WEBHOOK_RETRY_SECONDS", "[0.05, 0.05]")
    get_settings.cache_clear()
    hook, url = receiver
    async with (
        running("intake") as intake,
        running("cases") as cases,
        running("handover") as handover,
    ):
        hid = await offer_to_webhook_partner(intake, cases, handover, url)

        async def dead_and_alerted() -> bool:
            """The alert commits with the give-up, the dead letter follows it: wait for both."""
            if not await redis.xlen(deadletter_stream()):
                return False
            entries = await redis.xrange(service_stream("handover"))
            return any(
                json.loads(f[b"event"])["type"] == "brug.handover.delivery_failed.v1"
                and json.loads(f[b"event"])["subject"] == hid
                for _, f in entries
            )

        await eventually(dead_and_alerted, timeout=15)
    assert len(hook.requests) == 3  # the first attempt and two retries
    [(_, letter)] = await redis.xrange(deadletter_stream())
    assert b"webhook undelivered after 3 attempts: HTTP 503" in letter[b"reason"]
    assert json.loads(letter[b"entry.event"])["data"]["handover_id"] == hid
