"""`make fuzz`: schemathesis against every service's OpenAPI, with a valid token of each role
that uses it: no 5xx, and every response matches its documented schema."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from shared.auth import make_token
from shared.settings import DEV_JWT_SECRET
from tests.e2e.processes import ServiceProcess
from tests.infra import provide_redis, unique

ROLES = {
    "intake": ["case_worker", "partner"],
    "cases": ["case_worker", "admin"],
    "handover": ["case_worker", "partner", "admin", "analyst"],
    "signals": ["analyst", "case_worker", "admin"],
}


def main() -> int:
    workdir = Path(tempfile.mkdtemp(prefix="brug-fuzz-"))
    redis = provide_redis(workdir)
    env = {
        "BRUG_REDIS_URL": redis.url,
        "BRUG_STREAM_PREFIX": unique("fuzz") + ":",
        "BRUG_DATABASE_URL": f"sqlite+aiosqlite:///{workdir}/{{service}}.db",
        "BRUG_RATE_LIMIT_PER_MINUTE": "0",
        "BRUG_JWT_SECRET": DEV_JWT_SECRET,
    }
    services = {name: ServiceProcess(name, env, workdir).start() for name in ROLES}
    failed = []
    try:
        for name, roles in ROLES.items():
            for role in roles:
                token = make_token(role=role, org="clb-gent", sub="fuzz", secret=DEV_JWT_SECRET)
                print(f"== {name} as {role}", flush=True)
                result = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "schemathesis.cli",
                        "run",
                        f"{services[name].url}/openapi.json",
                        "-H",
                        f"Authorization: Bearer {token}",
                        "-c",
                        "not_a_server_error,response_schema_conformance",
                        "-n",
                        "40",
                        "--phases",
                        "examples,fuzzing",
                    ],
                    capture_output=True,
                    text=True,
                    check=False,
                )
                summary = [
                    line
                    for line in result.stdout.splitlines()
                    if "generated" in line or "ST" in line
                ]
                print("\n".join(summary[-6:]))
                if result.returncode != 0 and "failures" in result.stdout.lower():
                    failed.append(f"{name} as {role}")
                    print(result.stdout[-4000:])
    finally:
        for process in services.values():
            process.stop()
        redis.stop()
    if failed:
        print(f"\nfuzzing found failures: {', '.join(failed)}")
        return 1
    print("\nno 5xx, every response as documented")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
