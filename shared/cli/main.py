"""`brug`: run the services, make development tokens, import registrations."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from shared.settings import SERVICES


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(argv)
    except BrokenPipeError:
        # Output piped into `head` and the like: stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def run(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:  # its options are the bench's own
        return run_bench(argv[1:])
    parser = argparse.ArgumentParser(prog="brug", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    up = commands.add_parser("up", help="run all four services (what `make run` calls)")
    up.add_argument("--data", default="data", help="folder for SQLite databases (default ./data)")

    serve = commands.add_parser("serve", help="run one service")
    serve.add_argument("service", choices=SERVICES)
    serve.add_argument("--port", type=int, default=None)

    token = commands.add_parser("token", help="print a development token")
    token.add_argument(
        "--role", required=True, choices=["case_worker", "partner", "analyst", "admin"]
    )
    token.add_argument("--org", required=True)
    token.add_argument("--sub", default="dev-user")
    token.add_argument("--ttl", type=int, default=8 * 3600, help="seconds (default 8 hours)")

    signals = commands.add_parser("signals", help="signals tools")
    signal_commands = signals.add_subparsers(dest="signals_command", required=True)
    rebuild = signal_commands.add_parser(
        "rebuild", help="replay the case stream into a fresh state and compare it with the live one"
    )
    rebuild.add_argument(
        "--into",
        default=None,
        help="database URL for the fresh state (default: a temporary SQLite)",
    )

    commands.add_parser("asyncapi", help="print the AsyncAPI document of every stream and event")
    commands.add_parser("migrate", help="bring every service database to the latest schema")
    commands.add_parser("bench", help="the benchmarks of `make bench` (from a checkout)")

    acl = commands.add_parser("acl", help="print Redis ACL users (for ops)")
    acl.add_argument("who", choices=["services", "partner"])
    acl.add_argument("partner_id", nargs="?", help="with `partner`: the partner's id")
    acl.add_argument("--password", help="default: a new random one per user")

    intake = commands.add_parser("intake", help="intake tools")
    intake_commands = intake.add_subparsers(dest="intake_command", required=True)
    imp = intake_commands.add_parser("import", help="register every row of a CSV file")
    imp.add_argument("file")
    imp.add_argument("--org", help="registering organisation (for a development token)")
    imp.add_argument("--token", help="a bearer token (instead of --org)")
    imp.add_argument("--url", default=None, help="intake base URL (default http://HOST:8001)")
    imp.add_argument(
        "--report", default=None, help="CSV of refused rows (default FILE.refused.csv)"
    )
    imp.add_argument("--concurrency", type=int, default=8)

    args = parser.parse_args(argv)
    if args.command == "up":
        from shared.cli.up import run_all

        return run_all(args.data)
    if args.command == "serve":
        from shared.cli.serve import serve as serve_one

        return serve_one(args.service, args.port)
    if args.command == "token":
        from shared.auth import make_token
        from shared.settings import get_settings

        print(
            make_token(
                role=args.role,
                org=args.org,
                sub=args.sub,
                secret=get_settings().jwt_secret,
                ttl_seconds=args.ttl,
            )
        )
        return 0
    if args.command == "signals" and args.signals_command == "rebuild":
        from shared.cli.rebuild import run_rebuild

        return run_rebuild(args.into)
    if args.command == "asyncapi":
        import json

        from shared.asyncapi import document

        print(json.dumps(document(), indent=2))
        return 0
    if args.command == "migrate":
        return migrate_all()
    if args.command == "acl":
        return print_acl(args.who, args.partner_id, args.password)
    if args.command == "intake" and args.intake_command == "import":
        from shared.cli.import_csv import run_import

        return run_import(args)
    parser.error("unknown command")
    return 2


def run_bench(bench_args: list[str]) -> int:
    """The benchmarks live with the tests, in a checkout of brug (they are not installed)."""
    import importlib
    from pathlib import Path

    if (Path.cwd() / "tests" / "bench" / "run.py").exists():
        sys.path.insert(0, str(Path.cwd()))
    try:
        bench = importlib.import_module("tests.bench.run")
    except ImportError:
        print(
            "brug bench: run it from a checkout of brug (the benchmarks are in tests/bench)",
            file=sys.stderr,
        )
        return 2
    sys.argv = ["brug bench", *bench_args]
    return int(bench.main())


def migrate_all() -> int:
    """Alembic upgrade of each service's database (what each service also does at start)."""
    import asyncio

    from shared.db import Database
    from shared.db.migrate import upgrade
    from shared.settings import get_settings

    async def run() -> None:
        for service in SERVICES:
            db = Database(get_settings().database_url_for(service))
            try:
                await upgrade(db, service)
                print(f"{service}: up to date")
            finally:
                await db.dispose()

    asyncio.run(run())
    return 0


def print_acl(who: str, partner_id: str | None, password: str | None) -> int:
    """ACL file lines: `brug acl services`, `brug acl partner vdab`."""
    import secrets

    from shared.acl import partner_rules, service_rules, user_line
    from shared.settings import get_settings

    prefix = get_settings().stream_prefix
    if who == "partner":
        if not partner_id:
            print("brug: name the partner: brug acl partner PARTNER_ID", file=sys.stderr)
            return 2
        users = [(f"partner-{partner_id}", partner_rules(partner_id, prefix))]
    else:
        users = [(f"brug-{s}", service_rules(s, prefix)) for s in SERVICES]
    for name, rules in users:
        print(user_line(name, rules, password or secrets.token_urlsafe(24)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
