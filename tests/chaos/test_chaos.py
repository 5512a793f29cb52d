"""The chaos harness itself, small: a few dozen young people, cases and Redis killed once each.
`make chaos` runs it at full size."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.chaos.run import Config, report, run_chaos

pytestmark = pytest.mark.e2e


async def test_a_small_chaos_run_loses_and_doubles_nothing(tmp_path: Path) -> None:
    config = Config(
        actions=150, seed=8, workers=8, kills=["cases", "redis"], workdir=tmp_path, verbose=False
    )
    result = await run_chaos(config)
    print(report(result))
    assert result.ok, report(result)
    assert result.stats.kills == {"cases": 1, "redis": 1}
    assert result.stats.actions >= 150
    assert result.stats.acknowledged + result.stats.recovered == result.stats.actions
