"""The analysts' dashboard in a real headless browser: it renders and shows its charts."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from tests.conftest import auth
from tests.e2e.processes import ServiceProcess
from tests.integration.test_signals import CaseEvents

pytestmark = pytest.mark.e2e
ANALYST = auth(role="analyst", org="vlaamse-overheid")


def chromium() -> str | None:
    found = os.environ.get("BRUG_TEST_CHROMIUM") or shutil.which("chromium")
    return found if found and Path(found).exists() else None


@pytest.mark.skipif(
    chromium() is None,
    reason="no Chromium: install Debian's `chromium` (or set BRUG_TEST_CHROMIUM) to run the "
    "dashboard in a headless browser",
)
async def test_the_dashboard_renders_its_charts_in_chromium(
    brug_env: dict[str, str], redis: aioredis.Redis, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright

    signals = ServiceProcess("signals", brug_env, tmp_path).start()
    try:
        cases = CaseEvents(redis)
        for province in ("ANT", "LIM", "OVL"):
            for _ in range(5):
                await cases.blocked_case(province, ["waiting_list"], ["youth_care"])
        async with httpx.AsyncClient(base_url=signals.url, headers=ANALYST) as http:
            for _ in range(100):
                if len((await http.get("/v1/signals")).json()) == 3:
                    break
                await asyncio.sleep(0.1)
        async with async_playwright() as p:
            browser = await p.chromium.launch(
                executable_path=chromium(),
                args=[
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--disable-background-networking",
                ],
            )
            page = await browser.new_page(extra_http_headers=ANALYST)
            response = await page.goto(f"{signals.url}/dashboard")
            assert response is not None
            assert response.status == 200
            charts = page.locator("svg.chart")
            assert await charts.count() == 2
            assert await page.locator("#by-province rect.bar").count() == 3
            box = await charts.first.bounding_box()
            assert box is not None
            assert box["width"] > 100
            assert box["height"] > 30
            assert await page.locator("table tbody tr").count() == 3
            await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=True)
            await browser.close()
        assert (tmp_path / "dashboard.png").stat().st_size > 1000
    finally:
        signals.stop()
