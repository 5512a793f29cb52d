"""The `brug` command as a user meets it: `brug up`, Ctrl-C, `brug token`, `brug intake import`."""

from __future__ import annotations

import asyncio
import csv
import os
import random
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx
import jwt
import pytest
from sqlalchemy import text

from shared.cli.import_csv import REQUIRED
from shared.cli.infra import free_port
from shared.db import Database
from shared.settings import DEV_JWT_SECRET
from tests.e2e.processes import ServiceProcess
from tests.factories import national_id

pytestmark = pytest.mark.e2e

BRUG = [sys.executable, "-m", "shared.cli.main"]


def four_free_ports() -> int:
    """A base below the kernel's ephemeral range, with base+1..base+4 free right now."""
    rng = random.Random()
    while True:
        base = rng.randrange(20000, 30000, 10)
        sockets = []
        try:
            for i in range(1, 5):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", base + i))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()


def test_brug_up_starts_four_services_with_a_private_redis_and_ctrl_c_stops_them(
    tmp_path: Path, stream_prefix: str
) -> None:
    base = four_free_ports()
    env = {
        **os.environ,
        "BRUG_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # nothing answers there
        "BRUG_BASE_PORT": str(base),
        "BRUG_STREAM_PREFIX": stream_prefix,
    }
    env.pop("BRUG_DATABASE_URL", None)
    up = subprocess.Popen(
        [*BRUG, "up", "--data", str(tmp_path / "data")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines: list[str] = []
        assert up.stdout is not None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = up.stdout.readline()
            lines.append(line)
            if "Ctrl-C" in line or up.poll() is not None:
                break
        output = "".join(lines)
        assert "brug is up" in output, output
        for i, service in enumerate(["intake", "cases", "handover", "signals"], start=1):
            url = f"http://127.0.0.1:{base + i}"
            assert f"{service}" in output
            assert url in output
            assert httpx.get(f"{url}/readyz", timeout=5).status_code == 200
        for service in ["intake", "cases", "handover", "signals"]:
            assert (tmp_path / "data" / f"{service}.db").exists()
        assert (tmp_path / "data" / "redis").is_dir()  # a private redis-server was started
        up.send_signal(signal.SIGINT)
        assert up.wait(20) == 0
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{base + 1}/healthz", timeout=1)
    finally:
        if up.poll() is None:
            up.kill()


def test_brug_up_stops_with_a_clear_message_when_no_redis_can_be_found(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "BRUG_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        "PATH": str(tmp_path),  # no redis-server, no docker
    }
    result = subprocess.run(
        [*BRUG, "up", "--data", str(tmp_path / "data")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "brug needs Redis" in result.stderr
    assert "redis-server" in result.stderr


def test_brug_token_prints_a_token_with_the_claims() -> None:
    result = subprocess.run(
        [*BRUG, "token", "--role", "analyst", "--org", "vlaanderen", "--sub", "an-1"],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "BRUG_JWT_SECRET": DEV_JWT_SECRET},
    )
    claims = jwt.decode(result.stdout.strip(), DEV_JWT_SECRET, algorithms=["HS256"])
    assert (claims["role"], claims["org"], claims["sub"]) == ("analyst", "vlaanderen", "an-1")
    assert claims["exp"] > time.time()


def test_intake_import_registers_rows_and_reports_refusals(
    brug_env: dict[str, str], tmp_path: Path
) -> None:
    intake = ServiceProcess("intake", brug_env, tmp_path).start()
    try:
        path = tmp_path / "leerlingen.csv"
        header = [
            "national_id",
            "given_name",
            "family_name",
            "birth_date",
            "province",
            "municipality_nis",
            "school_level",
            "reasons",
            "domains",
            "urgency",
            "consent_given_by",
            "consent_date",
            "summary",
        ]
        good = [
            [
                national_id(date(2012, 4, i + 1), i + 1),
                f"Kind{i}",
                "Peeters",
                f"2012-04-{i + 1:02d}",
                "ANT",
                "11002",
                "secondary_1",
                "problematic_absence;exclusion",
                "school;family",
                "normal",
                "youth",
                "2026-05-01",
                "geheime notitie",
            ]
            for i in range(12)
        ]
        bad = [
            [
                "",
                "Zonder",
                "Toestemming",
                "2015-01-01",
                "LIM",
                "71011",
                "primary",
                "difficult_behaviour",
                "school",
                "low",
                "",
                "",
                "",
            ],
            [
                "",
                "Verkeerde",
                "Provincie",
                "2015-01-01",
                "LIM",
                "11002",
                "primary",
                "problematic_absence",
                "school",
                "low",
                "",
                "",
                "",
            ],
        ]
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(good + bad)
        command = [*BRUG, "intake", "import", str(path), "--org", "school-a", "--url", intake.url]
        env = {**os.environ, **brug_env}
        first = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        assert first.returncode == 1  # some rows were refused
        assert "14 rows: 12 registered, 0 already registered, 2 refused" in first.stdout
        assert "line 14: consent" in first.stdout
        assert "line 15: region.municipality_nis" in first.stdout
        assert "Zonder" not in first.stdout + first.stderr  # reasons never echo names
        assert "importing" in first.stderr  # the progress bar
        report = list(csv.reader((tmp_path / "leerlingen.refused.csv").open()))
        assert report[0][:3] == ["line", "reasons", "national_id"]
        assert [row[0] for row in report[1:]] == ["14", "15"]
        assert report[1][3] == "Zonder"  # the row itself, to correct and import again

        # The same people again, in another order and with a new one first: no doubles.
        newcomer = [
            "",
            "Nieuw",
            "Kind",
            "2013-02-02",
            "OVL",
            "44021",
            "primary",
            "problematic_absence",
            "",
            "low",
            "",
            "",
            "",
        ]
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle, delimiter=";")
            writer.writerow(header)
            writer.writerows([newcomer, *reversed(good)])
        again = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
        assert again.returncode == 0, again.stdout + again.stderr
        assert "13 rows: 1 registered, 12 already registered, 0 refused" in again.stdout
        assert not (tmp_path / "leerlingen.refused.csv").exists()

        async def count() -> int:
            db = Database(brug_env["BRUG_DATABASE_URL"].replace("{service}", "intake"))
            async with db.reading() as session:
                n = await session.scalar(text("SELECT count(*) FROM registrations"))
            await db.dispose()
            return int(n or 0)

        assert asyncio.run(count()) == 13
    finally:
        intake.stop()


def test_intake_import_checks_the_header_and_the_service_before_sending(
    tmp_path: Path,
) -> None:
    bad_header = tmp_path / "typo.csv"
    bad_header.write_text("given_name,family_name,birth_date,municipality\nA,B,2015-01-01,1\n")
    result = subprocess.run(
        [*BRUG, "intake", "import", str(bad_header), "--org", "o"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "missing columns: municipality_nis, province, reasons" in result.stderr
    assert "unknown columns: municipality" in result.stderr
    good = tmp_path / "ok.csv"
    good.write_text(",".join(sorted(REQUIRED)) + "\n")
    unreachable = subprocess.run(
        [
            *BRUG,
            "intake",
            "import",
            str(good),
            "--org",
            "o",
            "--url",
            f"http://127.0.0.1:{free_port()}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert unreachable.returncode == 2
    assert "cannot reach intake" in unreachable.stderr


@pytest.mark.parametrize("command", [["serve", "intake"], ["up"]])
def test_production_refuses_the_development_secrets(command: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "BRUG_ENV": "production"}
    env.pop("BRUG_JWT_SECRET", None)
    env.pop("BRUG_PSEUDONYM_KEY", None)
    result = subprocess.run(
        [*BRUG, *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "refusing to start in production" in result.stderr
    assert "BRUG_JWT_SECRET" in result.stderr
    assert "BRUG_PSEUDONYM_KEY" in result.stderr
