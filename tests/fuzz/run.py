"""`make fuzz`: schemathesis against every service's OpenAPI, with a valid token of every role:
no 5xx, and every response matches what the OpenAPI documents (schema, content type, headers).

The four services run as processes with a private stream prefix, on SQLite and then on
PostgreSQL (each lets through what the other refuses: lengths, time zones). They are seeded
first with real cases, episodes, breaks, handovers, registrations and signals
(tests/fuzz/seed.py), whose ids go to schemathesis as dictionaries: about half the generated
requests hit an object the token may reach, so the writes and views behind it are fuzzed too,
not only the 404.

A run fails unless schemathesis itself says so: its exit code is 0, its JUnit report exists,
names every operation of the service, and holds no failure and no error. A crash, a schema
that does not load or a run that tested nothing fails `make fuzz` as loudly as a 5xx does.

    python -m tests.fuzz.run [--services cases,handover] [--roles partner] [--max-examples 25]
                             [--databases sqlite] [--seed 1] [--checks all] [--no-data]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.auth import Role
from shared.settings import DEV_JWT_SECRET
from tests.e2e.processes import ServiceProcess
from tests.fuzz.seed import ORG_OF, bearer, seed
from tests.infra import (
    create_databases,
    database_url,
    drop_databases,
    provide_postgres,
    provide_redis,
    unique,
)

SERVICES = ("intake", "cases", "handover", "signals")
ROLES = tuple(role.value for role in Role)  # every role against every service
CHECKS = ",".join(
    [
        "not_a_server_error",
        "response_schema_conformance",
        "content_type_conformance",
        "response_headers_conformance",
    ]
)
# which seeded ids feed which parameters (path, body or header), and how often
BINDINGS = {
    "path.case_id": "case",
    "path.episode_id": "episode",
    "path.break_id": "break",
    "path.handover_id": "handover",
    "path.registration_id": "registration",
    "path.signal_id": "signal",
    "body.case_id": "case",
    "body.partner_id": "partner",
    "header.If-Match": "version",
}
HIT_PROBABILITY = 0.5
RUN_TIMEOUT = 300


@dataclass
class Outcome:
    service: str
    role: str
    database: str = ""
    returncode: int = -1
    operations: int = 0
    expected_operations: int = 0
    cases: int = 0
    failures: int = 0
    errors: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    output: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


def config_file(ids: dict[str, list[str]], path: Path) -> Path:
    """schemathesis.toml: the seeded ids as dictionaries, bound to the parameters they fill."""
    values = {**ids, "version": [f'"{v}"' for v in range(1, 13)]}
    lines = []
    for name, entries in values.items():
        if entries:
            lines += [f"[dictionaries.{name}]", f"values = {json.dumps(entries)}", ""]
    lines.append("[parameters]")
    for key, name in BINDINGS.items():
        if values.get(name):
            lines.append(f'"{key}" = {{ dictionary = "{name}", probability = {HIT_PROBABILITY} }}')
    path.write_text("\n".join(lines) + "\n")
    return path


def operations_of(url: str, schema: str) -> int:
    try:
        document = httpx.get(f"{url}{schema}", timeout=10).json()
        return sum(
            1
            for operations in document["paths"].values()
            for method in operations
            if method in ("get", "put", "post", "patch", "delete")
        )
    except (httpx.HTTPError, ValueError, KeyError, AttributeError):
        return 0  # schemathesis will say why it cannot load it either


def fuzz(
    service: ServiceProcess,
    role: str,
    args: argparse.Namespace,
    workdir: Path,
    config: Path | None,
) -> Outcome:
    outcome = Outcome(service.service, role)
    outcome.expected_operations = operations_of(service.url, args.schema)
    junit = workdir / f"junit-{service.service}-{role}.xml"
    junit.unlink(missing_ok=True)
    command = [sys.executable, "-m", "schemathesis.cli"]
    if config is not None:
        command += ["--config-file", str(config)]
    command += [
        "run",
        f"{service.url}{args.schema}",
        "-H",
        f"Authorization: {bearer(role)['Authorization']}",
        "--checks",
        args.checks,
        "--max-examples",
        str(args.max_examples),
        "--phases",
        args.phases,
        "--seed",
        str(args.seed),
        "--report",
        "junit",
        "--report-junit-path",
        str(junit),
        "--no-color",
        "--request-timeout",
        "30",
    ]
    started = time.monotonic()
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            timeout=RUN_TIMEOUT,
            env={**os.environ, "NO_COLOR": "1"},
        )
    except subprocess.TimeoutExpired as exc:
        outcome.seconds = time.monotonic() - started
        outcome.problems.append(f"schemathesis did not finish within {RUN_TIMEOUT} s")
        outcome.output = str(exc.stdout or "")[-4000:]
        return outcome
    outcome.seconds = time.monotonic() - started
    outcome.returncode = result.returncode
    outcome.output = result.stdout + result.stderr
    generated = re.findall(r"(\d+) generated", result.stdout)
    outcome.cases = int(generated[-1]) if generated else 0
    if result.returncode != 0:
        outcome.problems.append(f"schemathesis exited with {result.returncode}")
    try:
        suites = ET.parse(junit).getroot()  # noqa: S314 - the report schemathesis just wrote
    except (OSError, ET.ParseError) as exc:
        outcome.problems.append(f"no JUnit report ({type(exc).__name__})")
        return outcome
    outcome.operations = int(suites.get("tests", 0))
    outcome.failures = int(suites.get("failures", 0))
    outcome.errors = int(suites.get("errors", 0))
    if outcome.failures or outcome.errors:
        outcome.problems.append(f"{outcome.failures} failures, {outcome.errors} errors")
    if outcome.operations == 0 or outcome.operations < outcome.expected_operations:
        outcome.problems.append(
            f"tested {outcome.operations} of {outcome.expected_operations} operations"
        )
    if outcome.cases == 0:
        outcome.problems.append("no test case generated")
    return outcome


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.run", description=__doc__)
    parser.add_argument("--services", default=",".join(SERVICES))
    parser.add_argument("--roles", default=",".join(ROLES))
    parser.add_argument("--max-examples", type=int, default=25)
    parser.add_argument("--phases", default="examples,coverage,fuzzing")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    parser.add_argument(
        "--schema", default="/openapi.json", help="where each service serves its OpenAPI"
    )
    parser.add_argument(
        "--no-data", action="store_true", help="fuzz empty services: start only those fuzzed"
    )
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--checks", default=CHECKS, help="schemathesis checks (`all`: every one)")
    args = parser.parse_args(argv)
    args.services = [s for s in args.services.split(",") if s]
    args.roles = [r for r in args.roles.split(",") if r]
    args.databases = [d for d in args.databases.split(",") if d]
    unknown = (
        set(args.services) - set(SERVICES)
        | set(args.roles) - set(ROLES)
        | set(args.databases) - {"sqlite", "postgresql"}
    )
    if unknown or not args.services or not args.roles or not args.databases:
        parser.error(f"unknown or no services/roles/databases: {sorted(unknown)}")
    return args


def report(outcomes: list[Outcome], seconds: float) -> None:
    print(
        f"\n{'database':10} {'service':9} {'role':12} {'operations':>10} {'cases':>6} "
        f"{'failures':>8} {'s':>4}"
    )
    for o in outcomes:
        mark = "" if o.ok else "  <- " + "; ".join(o.problems)
        print(
            f"{o.database:10} {o.service:9} {o.role:12} "
            f"{o.operations:>6}/{o.expected_operations:<3} {o.cases:>6} "
            f"{o.failures + o.errors:>8} {o.seconds:>4.0f}{mark}"
        )
    print(
        f"{'total':33} {sum(o.operations for o in outcomes):>6}     "
        f"{sum(o.cases for o in outcomes):>6} "
        f"{sum(o.failures + o.errors for o in outcomes):>8} {seconds:>4.0f}"
    )


def database_of(kind: str, workdir: Path) -> tuple[str, Callable[[], None]]:
    """A `{service}` database URL template of this kind, and how to drop it afterwards."""
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{workdir}/{{service}}.db", lambda: None
    postgres = provide_postgres().url
    name = unique("brug_fuzz_")
    databases = [f"{name}_{service}" for service in SERVICES]
    create_databases(postgres, databases)
    return database_url(postgres, f"{name}_{{service}}"), lambda: drop_databases(
        postgres, databases
    )


def fuzz_on(database: str, args: argparse.Namespace, root: Path) -> tuple[list[Outcome], bool]:
    """Start the services on one database, seed them, fuzz; the outcomes, and whether a
    service logged a traceback."""
    workdir = root / database
    workdir.mkdir()
    redis = provide_redis(workdir)
    prefix = unique("fuzz") + ":"
    url, drop = database_of(database, workdir)
    env = {
        "BRUG_REDIS_URL": redis.url,
        "BRUG_STREAM_PREFIX": prefix,
        "BRUG_DATABASE_URL": url,
        "BRUG_RATE_LIMIT_PER_MINUTE": "0",
        "BRUG_JWT_SECRET": DEV_JWT_SECRET,
        "BRUG_SIGNAL_MIN_CASES": "1",  # one blocked seed case raises a signal
        "BRUG_OUTBOX_POLL_SECONDS": "0.2",
    }
    started = args.services if args.no_data else list(SERVICES)
    services: dict[str, ServiceProcess] = {}
    outcomes: list[Outcome] = []
    try:
        for name in started:
            services[name] = ServiceProcess(name, env, workdir).start()
        config = None
        if not args.no_data:
            ids = seed({name: s.url for name, s in services.items()})
            print("seeded: " + ", ".join(f"{len(v)} {k}" for k, v in ids.items()), flush=True)
            config = config_file(ids, workdir / "schemathesis.toml")
        for name in args.services:
            for role in args.roles:
                outcome = fuzz(services[name], role, args, workdir, config)
                outcome.database = database
                outcomes.append(outcome)
                state = "ok" if outcome.ok else "FAILED: " + "; ".join(outcome.problems)
                print(
                    f"== {database} {name} as {role}: {outcome.operations} operations, "
                    f"{outcome.cases} cases, {outcome.seconds:.0f} s, {state}",
                    flush=True,
                )
                if not outcome.ok:
                    print(outcome.output[-6000:], flush=True)
    finally:
        for process in services.values():
            process.stop()
        crashed = False
        for name, process in services.items():
            log = process.logs()
            if "Traceback" in log:
                crashed = True
                print(f"\n{database} {name} logged a traceback ({process.log_path}):")
                print(log[log.index("Traceback") :][:3000])
        _forget(redis.url, prefix)
        redis.stop()
        drop()
    return outcomes, crashed


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    began = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="brug-fuzz-"))
    print(f"schemathesis seed {args.seed}; tokens of {ORG_OF}; work in {root}", flush=True)
    outcomes: list[Outcome] = []
    crashed = False
    for database in args.databases:
        found, logged = fuzz_on(database, args, root)
        outcomes += found
        crashed = crashed or logged
    report(outcomes, time.monotonic() - began)
    failed = [f"{o.database} {o.service} as {o.role}" for o in outcomes if not o.ok]
    runs = len(args.databases) * len(args.services) * len(args.roles)
    if failed or crashed or len(outcomes) != runs:
        print(f"\nfuzzing FAILED: {', '.join(failed) or 'tracebacks in the service logs'}")
        print(f"reproduce with --seed {args.seed}; logs and reports in {root}")
        return 1
    print("\nno 5xx, every response as documented")
    return 0


def _forget(url: str, prefix: str) -> None:
    """Delete this run's streams and keys from a shared Redis."""
    import redis as sync_redis

    try:
        client = sync_redis.Redis.from_url(url)
        keys = list(client.scan_iter(match=f"{prefix}*"))
        if keys:
            client.delete(*keys)
        client.close()
    except sync_redis.RedisError:
        pass


if __name__ == "__main__":
    raise SystemExit(main())
