"""`make fuzz` itself, small: it runs, it counts, and it cannot pass without testing anything.

The harness runs as `make fuzz` does (a subprocess, its exit code), on one service and a few
examples, so that `make test` notices when it breaks; the long run stays behind `make fuzz`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(120)


def harness(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.fuzz.run", "--databases", "sqlite", "--seed", "1", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
        check=False,
    )


def test_the_harness_fuzzes_one_service_with_every_role_on_seeded_data() -> None:
    result = harness("--services", "signals", "--max-examples", "2")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    assert re.search(r"seeded: 2 case, \d+ episode, \d+ break, 5 handover", output), output
    for role in ("case_worker", "partner", "analyst", "admin"):
        line = re.search(rf"== sqlite signals as {role}: (\d+) operations, (\d+) cases", output)
        assert line, f"no run as {role}:\n{output[-3000:]}"
        assert int(line[1]) >= 10, line[0]  # every operation of signals
        assert int(line[2]) > 0, line[0]
    assert "no 5xx, every response as documented" in output


def test_a_schema_that_does_not_load_fails_the_run() -> None:
    result = harness(
        "--services", "signals", "--roles", "analyst", "--no-data", "--schema", "/nothing.json"
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "fuzzing FAILED: sqlite signals as analyst" in output
    assert "no 5xx" not in output


def test_a_failed_check_fails_the_run() -> None:
    """status_code_conformance: a partner's 403s are not in the OpenAPI, so it must fail."""
    result = harness(
        "--services",
        "signals",
        "--roles",
        "partner",
        "--no-data",
        "--max-examples",
        "2",
        "--checks",
        "status_code_conformance",
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert re.search(r"signals\s+partner\s+\d+/\d+\s+\d+\s+[1-9]\d*", output), output[-3000:]
