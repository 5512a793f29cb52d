"""Whole trajectories under load: the chaos suite's population played with no faults.

The pipeline figures time one kind of write. Case workers and partners do more: they add and
end episodes, block and unblock cases, propose handovers and walk them through consent,
offer, acceptance, a meeting and a start, while dropping out at 15 or more makes brug propose
a handover by itself. Here twelve stories at a time do all of that against the four services
(SQLite), every write timed from the first request to the answer (an automatic proposal: from
the drop-out's answer until the handover is listed), and the invariants the chaos suite checks
must still hold afterwards.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from tests.bench.load import percentiles
from tests.chaos.ledger import Ledger
from tests.chaos.run import Config, Result, run_chaos

ACTIONS = 3000
WORKERS = 12
SEED = 7


def bench_trajectories(actions: int = ACTIONS, workers: int = WORKERS) -> dict[str, Any]:
    config = Config(
        actions=actions, seed=SEED, workers=workers, kills=[], drop_answers=0.0, verbose=False
    )
    result = asyncio.run(run_chaos(config))
    if not result.ok:
        raise RuntimeError(
            f"{len(result.violations)} invariants broken, e.g. {result.violations[:3]} "
            f"(files kept in {result.workdir})"
        )
    drive = result.seconds["drive"]
    return {
        "population": population_of(result.ledger),
        "workers": workers,
        "writes": result.stats.actions,
        "drive_s": round(drive, 1),
        "writes_per_s": round(result.stats.actions / drive, 1),
        "stale_412": result.stats.stale,
        "steps": timings(result),
        "invariants_checked": dict(result.findings.checked),
        "peak_rss_mb": result.peak_rss_mb,
    }


def population_of(ledger: Ledger) -> dict[str, Any]:
    """What the run was made of, read off what the services acknowledged."""
    cases = list(ledger.cases.values())
    handovers = list(ledger.handovers.values())
    return {
        "young_people": len(cases),
        "provinces": len({c.province for c in cases}),
        "registering_orgs": len({r.org for r in ledger.registrations}),
        "registrations": len(ledger.registrations),
        "episodes": sum(len(c.episodes) for c in cases),
        "blocks": sum(kind == "blocked" for c in cases for kind, _, _ in c.block_events),
        "handovers": len(handovers),
        "handovers_automatic": sum(h.automatic for h in handovers),
        "handovers_by_status": dict(Counter(h.status for h in handovers).most_common()),
    }


def timings(result: Result) -> dict[str, dict[str, float]]:
    """Per step, how many and their p50/p99 in ms, the most frequent first."""
    out = {}
    for label, seconds in sorted(result.stats.timings.items(), key=lambda kv: -len(kv[1])):
        out[label] = {"n": len(seconds), **percentiles([s * 1000 for s in seconds])}
    return out
