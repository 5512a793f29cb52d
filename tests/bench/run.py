"""`make bench` (or `brug bench`): figures anyone can rerun, printed and kept as JSON.

- the pipeline: intake over HTTP (32 clients; a fixed 200/s), registration to case end to end,
  the sustained end-to-end rate, and the same for the bare pipeline in the same run (the
  ceiling of this machine), with each service's peak memory;
- scale out: cases opened per second by one and by two consumer processes in one group,
  from 30,000 registrations written while they run;
- the break sweep over 100,000 open cases on SQLite and on PostgreSQL: the first sweep opens
  what the population implies; a repeat as of the same date must change nothing (median of 3);
- the signals rebuild from 1,000,000 case events, and `GET /v1/signals` with 10,000 signals;
- whole trajectories: the chaos suite's population (episodes, blocks, handovers, automatic
  proposals on dropping out) played twelve stories at a time with no faults, each step timed,
  every invariant checked afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from services.cases.sweep import sweep
from shared.db import Database
from shared.db.migrate import upgrade
from tests import infra
from tests.bench.population import load

TARGET_SECONDS = 30.0


async def bench_sweep(url: str, n: int, today: date) -> dict[str, Any]:
    db = Database(url)
    await upgrade(db, "cases")
    started = time.perf_counter()
    episodes = await load(db, n, today)
    load_seconds = time.perf_counter() - started
    started = time.perf_counter()
    first = await sweep(db=db, as_of=today)
    first_seconds = time.perf_counter() - started
    repeats = []
    for _ in range(3):
        started = time.perf_counter()
        again = await sweep(db=db, as_of=today)
        repeats.append(time.perf_counter() - started)
        assert again.opened == again.resolved == 0, "a repeated sweep changed something"
    await db.dispose()
    return {
        "cases": n,
        "episodes": episodes,
        "load_s": round(load_seconds, 2),
        "first_sweep_s": round(first_seconds, 2),
        "breaks_opened": first.opened,
        "repeat_sweep_median_s": round(statistics.median(repeats), 2),
        "target_s": TARGET_SECONDS,
        "first_sweep_vs_target": round(first_seconds / TARGET_SECONDS, 3),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument(
        "--only", choices=["pipeline", "scale", "sweep", "signals", "trajectories"], default=None
    )
    parser.add_argument("--actions", type=int, default=3000, help="writes in the trajectories")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of each load step")
    parser.add_argument("--out", default="bench-results")
    args = parser.parse_args()
    results: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(),
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "sweep": {},
    }
    if args.only in (None, "pipeline"):
        run_pipeline(results, args.seconds)
    if args.only in (None, "scale"):
        run_scale(results)
    if args.only in (None, "sweep"):
        run_sweeps(results, args.cases, datetime.now(UTC).date())
    if args.only in (None, "signals"):
        run_signals(results, args.events)
    if args.only in (None, "trajectories"):
        run_trajectories(results, args.actions)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bench-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(results, indent=2))
    print(f"\nresults: {path}")
    return 0


def run_sweeps(results: dict[str, Any], cases: int, today: date) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        results["sweep"]["sqlite"] = asyncio.run(
            bench_sweep(f"sqlite+aiosqlite:///{tmp}/cases.db", cases, today)
        )
    postgres = infra.provide_postgres_or_none()
    if postgres is None:
        print("PostgreSQL: none found (set BRUG_TEST_POSTGRES_URL); skipped")
    else:
        name = infra.unique("brug_bench_")
        infra.create_databases(postgres.url, [name])
        try:
            results["sweep"]["postgresql"] = asyncio.run(
                bench_sweep(infra.database_url(postgres.url, name), cases, today)
            )
        finally:
            infra.drop_databases(postgres.url, [name])
            postgres.stop()
    print(f"\nbreak sweep over {cases:,} open cases (target under {TARGET_SECONDS:.0f} s)")
    print(
        f"{'database':12} {'episodes':>9} {'first sweep':>12} {'breaks':>8} "
        f"{'repeat (median)':>16} {'vs target':>10}"
    )
    for database, r in results["sweep"].items():
        print(
            f"{database:12} {r['episodes']:>9,} {r['first_sweep_s']:>11.2f}s "
            f"{r['breaks_opened']:>8,} {r['repeat_sweep_median_s']:>15.2f}s "
            f"{r['first_sweep_vs_target']:>9.0%}"
        )


def run_pipeline(results: dict[str, Any], seconds: float) -> None:
    from tests.bench.pipeline_bench import bench_pipeline

    with tempfile.TemporaryDirectory() as tmp:
        results["pipeline"] = bench_pipeline(Path(tmp), seconds)
    print_pipeline(results["pipeline"])


def print_pipeline(r: dict[str, Any]) -> None:
    brug, bare = r["brug"], r["bare"]
    print("\npipeline (SQLite; load generator, Redis and services on this machine)")
    print(f"{'':34} {'brug':>16} {'bare pipeline':>16} {'target (brug)':>22}")
    rows = [
        ("intake, 32 clients: per s", "clients_32", "per_s", "at least 800/s", 800, True),
        ("intake, 32 clients: p50 ms", "clients_32", "p50_ms", "", None, False),
        ("intake, 32 clients: p99 ms", "clients_32", "p99_ms", "", None, False),
    ]
    for label, group, key, target, goal, higher in rows:
        _row(label, brug[group][key], bare[group][key], target, goal, higher)
    for part in ("http", "end_to_end"):
        for key in ("p50_ms", "p99_ms"):
            goal = 50.0 if (part, key) == ("end_to_end", "p99_ms") else None
            _row(
                f"fixed 200/s, {part.replace('_', ' ')}: {key[:3]} ms",
                brug["fixed_200"][part][key],
                bare["fixed_200"][part][key],
                "under 50 ms" if goal else "",
                goal,
                False,
            )
    half = bare["sustained"]["per_s"] / 2
    _row(
        "sustained end to end: per s",
        brug["sustained"]["per_s"],
        bare["sustained"]["per_s"],
        f"half the bare: {half:.0f}/s",
        half,
        True,
    )
    print(f"brug's sustained rate is {r['sustained_vs_bare']:.0%} of the bare pipeline's")
    for name, r_ in (("brug", brug), ("bare pipeline", bare)):
        last = r_["sustained"]["steps"][-1]
        if last["kept_up"]:
            continue
        print(
            f"  {name} fell behind at {last['offered_per_s']:.0f}/s offered: answered "
            f"{last['answered_per_s']}/s, refused {last['refused'] or 'none'}, "
            f"{last['unanswered']} unanswered, "
            f"{last['behind_at_end']} cases still to open at the step's end"
        )
    for name, r_ in (("brug", brug), ("bare pipeline", bare)):
        where = r_["where_the_time_goes"]
        cpu = ", ".join(f"{p} {ms} ms" for p, ms in where["cpu_ms_per_registration"].items())
        print(f"CPU per registration at {where['rate_per_s']:.0f}/s, {name}: {cpu}")
    for process, frames in brug["where_the_time_goes"]["hottest"].items():
        print(f"  {process}, busiest of our code (py-spy, share of its busy samples):")
        for frame, share in frames:
            print(f"    {share:5.1f}%  {frame}")
    print("peak memory (RSS, MB; target under 150 each):")
    for name, mb in {**brug["peak_rss_mb"], **bare["peak_rss_mb"]}.items():
        print(f"  {name:16} {mb}")


def _row(
    label: str, ours: float, bare: float, target: str, goal: float | None, higher: bool
) -> None:
    verdict = ""
    if goal:
        met = ours >= goal if higher else ours <= goal
        verdict = "met" if met else f"missed: {ours / goal:.0%} of it"
    print(f"{label:34} {ours:>16} {bare:>16} {target:>22} {verdict}")


def run_scale(results: dict[str, Any]) -> None:
    from tests.bench.pipeline_bench import private_redis
    from tests.bench.scale_bench import bench_scale_out

    with tempfile.TemporaryDirectory() as tmp:
        redis = private_redis(Path(tmp))
        try:
            results["scale_out"] = r = bench_scale_out(Path(tmp), redis.url)
        finally:
            redis.stop()
    if "skipped" in r:
        print(f"\nscale out: skipped ({r['skipped']})")
        return
    print(
        f"\nscale out, cases on PostgreSQL, {r['one']['cases']:,} registrations written at once: "
        f"one process {r['one']['per_s']}/s, two processes {r['two']['per_s']}/s "
        f"(x{r['speedup']})"
    )


def run_signals(results: dict[str, Any], events: int) -> None:
    from tests.bench.signals_bench import bench_list, bench_rebuild

    redis = infra.provide_redis(Path(tempfile.mkdtemp()))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            results["signals_rebuild"] = asyncio.run(bench_rebuild(redis.url, events, tmp))
            results["signals_list"] = asyncio.run(bench_list(tmp))
    finally:
        redis.stop()
    r = results["signals_rebuild"]
    print(
        f"\nsignals rebuild from {r['events']:,} case events ({r['cases']:,} cases, "
        f"{r['open_signals']} open signals): {r['rebuild_s']:.1f} s "
        f"(reading the stream {r['replay_s']:.1f} s), {r['vs_target']:.0%} of the 60 s target"
    )
    lst = results["signals_list"]
    print(
        f"GET /v1/signals with {lst['open_signals']:,} open signals (first page of "
        f"{lst['page']}): p50 {lst['p50_ms']} ms, p99 {lst['p99_ms']} ms "
        f"(target p99 under {lst['target_p99_ms']} ms)"
    )


def run_trajectories(results: dict[str, Any], actions: int) -> None:
    from tests.bench.trajectories_bench import bench_trajectories

    results["trajectories"] = r = bench_trajectories(actions)
    p = r["population"]
    print(
        f"\ntrajectories: {p['young_people']:,} young people in {p['provinces']} provinces, "
        f"registered by {p['registering_orgs']} organisations ({p['registrations']:,} "
        f"registrations), {p['episodes']:,} episodes, {p['blocks']:,} blocks, "
        f"{p['handovers']:,} handovers ({p['handovers_automatic']:,} proposed by brug on "
        f"dropping out; by status {p['handovers_by_status']})"
    )
    print(
        f"{r['writes']:,} writes by {r['workers']} stories at a time in {r['drive_s']} s: "
        f"{r['writes_per_s']}/s; every invariant held "
        f"({', '.join(f'{n:,} {what}' for what, n in r['invariants_checked'].items())})"
    )
    print(f"{'step':28} {'n':>6} {'p50 ms':>8} {'p99 ms':>8}")
    for label, t in r["steps"].items():
        print(f"{label:28} {t['n']:>6,} {t['p50_ms']:>8} {t['p99_ms']:>8}")
    rss = ", ".join(f"{s} {mb}" for s, mb in r["peak_rss_mb"].items())
    print(f"peak memory (RSS, MB; target under 150 each): {rss}")


if __name__ == "__main__":
    raise SystemExit(main())
