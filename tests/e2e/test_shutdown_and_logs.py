"""SIGTERM stops a service cleanly in time; its logs are JSON lines with trace ids."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import auth
from tests.e2e.processes import ServiceProcess
from tests.factories import registration

pytestmark = pytest.mark.e2e


def test_sigterm_stops_within_ten_seconds_and_exits_0(
    brug_env: dict[str, str], tmp_path: Path
) -> None:
    intake = ServiceProcess("intake", {**brug_env, "BRUG_LOG_LEVEL": "INFO"}, tmp_path).start()
    response = httpx.post(
        f"{intake.url}/v1/registrations",
        json=registration(),
        headers={**auth(), "Idempotency-Key": "term"},
        timeout=10,
    )
    assert response.status_code == 202
    assert intake.process is not None
    started = time.monotonic()
    intake.process.send_signal(signal.SIGTERM)
    code = intake.process.wait(15)
    assert code == 0
    assert time.monotonic() - started < 10
    lines = [line for line in intake.logs().splitlines() if line.strip()]
    assert lines
    records = [json.loads(line) for line in lines]  # every line is a JSON object
    assert all(r["service"] == "intake" for r in records)
    assert any(r["message"].startswith("intake listening") for r in records)
