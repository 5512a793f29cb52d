"""Past BRUG_HTTP_MAX_IN_FLIGHT requests in hand, a service answers 503 with Retry-After at
once rather than holding every request (and its memory) until it can serve it."""

from __future__ import annotations

import asyncio

import httpx
from fastapi import FastAPI

from shared.http import InFlightLimitMiddleware


def app_holding_requests(limit: int) -> tuple[FastAPI, asyncio.Event]:
    release = asyncio.Event()
    app = FastAPI()

    @app.post("/v1/things")
    async def slow() -> dict[str, str]:
        await release.wait()
        return {"ok": "yes"}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/broken")
    async def broken() -> None:
        raise RuntimeError("boom")

    app.add_middleware(InFlightLimitMiddleware, limit=limit)
    return app, release


async def test_the_request_past_the_limit_gets_503_and_the_others_are_served() -> None:
    app, release = app_holding_requests(limit=2)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        held = [asyncio.create_task(c.post("/v1/things")) for _ in range(2)]
        await asyncio.sleep(0.05)  # both are in hand
        refused = await c.post("/v1/things")
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["content-length"] == str(len(refused.content))
        assert "retry" in refused.json()["detail"]
        assert (await c.get("/healthz")).status_code == 200  # probes always answer
        release.set()
        assert [r.status_code for r in await asyncio.gather(*held)] == [200, 200]
        assert (await c.post("/v1/things")).status_code == 200  # room again


async def test_a_failing_request_gives_its_place_back() -> None:
    app, release = app_holding_requests(limit=1)
    release.set()
    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        for _ in range(3):
            assert (await c.post("/v1/broken")).status_code == 500
        assert (await c.post("/v1/things")).status_code == 200


async def test_zero_means_no_limit() -> None:
    app, release = app_holding_requests(limit=0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://t") as c:
        held = [asyncio.create_task(c.post("/v1/things")) for _ in range(20)]
        await asyncio.sleep(0.05)
        release.set()
        assert {r.status_code for r in await asyncio.gather(*held)} == {200}
