"""`make chaos`: drive brug with a synthetic population while killing every service and Redis,
then check that nothing acknowledged was lost or doubled.

    python -m tests.chaos.run [--actions N] [--seed S] [--postgres] [--keep]

Exit status 0 when every invariant holds; 1 with the violations listed otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from shared.settings import SERVICES
from tests.chaos.client import Api, Stats
from tests.chaos.cluster import Cluster
from tests.chaos.driver import Driver
from tests.chaos.invariants import Checker, Findings, sweep
from tests.chaos.ledger import Ledger
from tests.chaos.plans import Planner, Story
from tests.chaos.population import make_person
from tests.chaos.quiet import wait_quiet

DEFAULT_ACTIONS = 5000


@dataclass
class Config:
    actions: int = DEFAULT_ACTIONS
    seed: int = 0
    workers: int = 12
    kills: list[str] = field(default_factory=lambda: [*SERVICES, *SERVICES, "redis"])
    postgres: bool = False
    workdir: Path | None = None
    keep: bool = False
    log_level: str = "WARNING"
    quiet_timeout: float = 120
    drop_answers: float = 0.02
    verbose: bool = True


@dataclass
class Result:
    stats: Stats
    ledger: Ledger
    findings: Findings
    seconds: dict[str, float]
    workdir: Path
    peak_rss_mb: dict[str, float | None] = field(default_factory=dict)  # since each last start

    @property
    def violations(self) -> list[str]:
        return self.ledger.violations + self.findings.violations

    @property
    def ok(self) -> bool:
        return not self.violations


def stories(config: Config, today: datetime) -> list[Story]:
    """People one after another until their stories hold the actions asked for."""
    rng = random.Random(config.seed)
    planned: list[Story] = []
    total = 0
    while total < config.actions:
        person = make_person(len(planned), rng, today.date())
        story = Planner(person, today.date(), config.seed).plan()
        planned.append(story)
        total += story.writes
    return planned


def kill_plan(config: Config, rng: random.Random) -> list[tuple[float, str]]:
    """Each kill at a random point of its own slice of the run, so they spread out."""
    targets = list(config.kills)
    rng.shuffle(targets)
    n = len(targets)
    return [
        (rng.uniform(0.05 + 0.85 * i / n, 0.05 + 0.85 * (i + 1) / n), target)
        for i, target in enumerate(targets)
    ]


def say(config: Config, text: str) -> None:
    if config.verbose:
        print(text, flush=True)


async def drive(config: Config, cluster: Cluster, driver: Driver, plan: list[Story]) -> None:
    stats = driver.stats
    total = sum(s.writes for s in plan)
    finished = asyncio.Event()
    queue: asyncio.Queue[Story] = asyncio.Queue()
    for story in plan:
        queue.put_nowait(story)

    async def worker() -> None:
        while not queue.empty():
            await driver.play(queue.get_nowait())

    async def chaos() -> None:
        rng = random.Random(config.seed + 1)
        for fraction, target in kill_plan(config, rng):
            while stats.actions < fraction * total and not finished.is_set():
                await asyncio.sleep(0.05)
            # Meaner: kill a service while a write to it is in flight, if one comes soon.
            for _ in range(100):
                if target == "redis" or driver.api.writing[target] or finished.is_set():
                    break
                await asyncio.sleep(0.01)
            await asyncio.sleep(rng.uniform(0, 0.01))
            before = await asyncio.to_thread(cluster.redis.positions) if target == "redis" else {}
            started = time.monotonic()
            await asyncio.to_thread(cluster.kill, target)
            stats.kills[target] += 1
            await asyncio.sleep(rng.uniform(0.1, 1.5))
            await asyncio.to_thread(cluster.restart, target)
            say(
                config,
                f"  killed {target:8} at {stats.actions}/{total} actions "
                f"({'after' if finished.is_set() else 'during'} traffic), "
                f"back in {time.monotonic() - started:.1f} s",
            )
            if target == "redis":
                for problem in await asyncio.to_thread(cluster.redis.lost_since, before):
                    driver.ledger.violation(problem)

    killing = asyncio.create_task(chaos())
    try:
        await asyncio.gather(*(worker() for _ in range(config.workers)))
    finally:
        finished.set()
        await killing


def postgres_template(workdir: Path) -> tuple[str, list[str], str]:
    from tests import infra

    admin = os.environ.get("BRUG_TEST_POSTGRES_URL", infra.LOCAL_POSTGRES)
    if not infra.postgres_answers(admin):
        raise SystemExit(f"--postgres: nothing answers at {admin} (set BRUG_TEST_POSTGRES_URL)")
    prefix = infra.unique("brug_chaos_")
    names = [f"{prefix}_{s}" for s in SERVICES]
    infra.create_databases(admin, names)
    return infra.database_url(admin, f"{prefix}_{{service}}"), names, admin


async def run_chaos(config: Config) -> Result:
    today = datetime.now(UTC)
    workdir = config.workdir or Path(tempfile.mkdtemp(prefix="brug-chaos-"))
    dropping: tuple[list[str], str] | None = None
    if config.postgres:
        template, names, admin = postgres_template(workdir)
        dropping = (names, admin)
    else:
        template = f"sqlite+aiosqlite:///{workdir}/db/{{service}}.db"
    cluster = Cluster(workdir, template, log_level=config.log_level)
    stats, ledger, seconds = Stats(), Ledger(), {}
    plan = stories(config, today)
    say(
        config,
        f"chaos: seed {config.seed}, {len(plan)} young people, "
        f"{sum(s.writes for s in plan)} actions, {config.workers} at a time, "
        f"kills {', '.join(config.kills)}, {config.drop_answers:.0%} of answers dropped; "
        f"{'PostgreSQL' if config.postgres else 'SQLite'} under {workdir}",
    )
    clock = time.monotonic()
    await asyncio.to_thread(cluster.start)
    api = Api(
        {s: cluster.url(s) for s in SERVICES},
        stats,
        drop_answers=config.drop_answers,
        seed=config.seed,
    )
    findings = Findings()
    try:
        driver = Driver(api, ledger, stats, today.date())
        await driver.create_partners()
        seconds["start"] = time.monotonic() - clock
        clock = time.monotonic()
        await drive(config, cluster, driver, plan)
        seconds["drive"] = time.monotonic() - clock
        clock = time.monotonic()
        moving = await wait_quiet(cluster, config.quiet_timeout)
        # The services' today, should the run have crossed midnight (UTC).
        as_of = datetime.now(UTC).date()
        if moving is None:
            swept = await sweep(api, as_of)
            say(config, f"  sweep as of {swept['as_of']}: {swept['cases']} cases")
            moving = await wait_quiet(cluster, config.quiet_timeout)
        seconds["quiesce"] = time.monotonic() - clock
        clock = time.monotonic()
        if moving is not None:
            findings.wrong(moving)
        else:
            findings = await Checker(cluster, api, ledger, [s.person for s in plan], as_of).run()
        seconds["check"] = time.monotonic() - clock
    finally:
        await api.aclose()
        peak_rss = {s: p.peak_rss_mb() for s, p in cluster.services.items()}
        await asyncio.to_thread(cluster.stop)
        if dropping is not None:
            from tests import infra

            infra.drop_databases(dropping[1], dropping[0])
    result = Result(stats, ledger, findings, seconds, workdir, peak_rss)
    if result.ok and not config.keep and config.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def report(result: Result) -> str:
    s, f = result.stats, result.findings
    lines = [
        "chaos figures:",
        f"  actions      {s.actions:>7,}  (writes carried out, of those planned)",
        f"  acknowledged {s.acknowledged:>7,}  (answered 2xx)",
        f"  recovered    {s.recovered:>7,}  (answer lost, found applied on read-back) "
        + str(dict(s.recovered_by) or ""),
        f"  lost         {sum(f.lost.values()):>7,}  {dict(f.lost) or ''}",
        f"  doubled      {sum(f.doubled.values()):>7,}  {dict(f.doubled) or ''}",
        f"  retries      {s.retries:>7,}  {dict(s.answers.most_common(6)) or ''}",
        f"  stale (412)  {s.stale:>7,}  (version moved by an event; read again)",
        f"  waits        {s.waits:>7,}  (polls for what travels by event)",
        f"  kills        {sum(s.kills.values()):>7,}  {dict(sorted(s.kills.items()))}",
        "  checked      " + ", ".join(f"{n:,} {what}" for what, n in f.checked.items()),
        "  seconds      "
        + ", ".join(f"{k} {v:.1f}" for k, v in result.seconds.items())
        + f", total {sum(result.seconds.values()):.1f}",
        *(f"  {note}" for note in f.notes),
    ]
    if result.violations:
        lines.append(f"{len(result.violations)} VIOLATIONS (files kept in {result.workdir}):")
        lines += [f"  - {v}" for v in result.violations[:40]]
    else:
        lines.append("every invariant holds")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.run", description=__doc__)
    parser.add_argument("--actions", type=int, default=DEFAULT_ACTIONS)
    parser.add_argument("--seed", type=int, default=None, help="default: a new one, printed")
    parser.add_argument("--workers", type=int, default=12, help="stories played at once")
    parser.add_argument(
        "--kills",
        default=",".join([*SERVICES, *SERVICES, "redis"]),
        help="what to kill, in any order, comma-separated (default: each service twice, "
        "Redis once)",
    )
    parser.add_argument(
        "--drop-answers",
        type=float,
        default=0.02,
        help="share of 2xx answers to writes the client drops, as if a kill took them",
    )
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep databases and logs")
    parser.add_argument("--log-level", default="WARNING")
    args = parser.parse_args(argv)
    config = Config(
        actions=args.actions,
        seed=args.seed if args.seed is not None else random.SystemRandom().randrange(1_000_000),
        workers=args.workers,
        kills=[k.strip() for k in args.kills.split(",") if k.strip()],
        postgres=args.postgres,
        drop_answers=args.drop_answers,
        workdir=args.workdir,
        keep=args.keep,
        log_level=args.log_level,
    )
    result = asyncio.run(run_chaos(config))
    print(report(result))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
