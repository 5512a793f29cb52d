"""The trajectories benchmark, small: what it reports is what the services acknowledged, and
its population holds what the performance issue asks for (episodes, blocks, handovers)."""

from __future__ import annotations

import pytest

from shared.settings import SERVICES
from tests.bench.trajectories_bench import bench_trajectories

pytestmark = pytest.mark.e2e


def test_a_small_run_times_every_write_of_a_population_with_handovers() -> None:
    r = bench_trajectories(actions=250, workers=6)
    p = r["population"]
    assert p["provinces"] == 6
    assert p["registering_orgs"] > 5
    assert p["episodes"] > 0
    assert p["blocks"] > 0
    assert p["handovers"] > p["handovers_automatic"] > 0
    assert set(p["handovers_by_status"]) - {"proposed"}, "no handover moved past its proposal"
    steps = r["steps"]
    # Every write is timed once; waiting for brug's own proposal is timed but is no write.
    assert sum(t["n"] for label, t in steps.items() if label != "await_proposal") == r["writes"]
    assert steps["await_proposal"]["n"] == p["handovers_automatic"]
    assert any(label.startswith("handover ") for label in steps)
    for label, t in steps.items():
        assert 0 < t["p50_ms"] <= t["p99_ms"], label
    assert r["writes"] >= 250
    assert r["writes_per_s"] > 0
    assert set(r["peak_rss_mb"]) == set(SERVICES)
    assert all(mb and mb > 20 for mb in r["peak_rss_mb"].values())
