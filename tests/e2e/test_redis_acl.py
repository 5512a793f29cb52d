"""Redis ACL users on a real Redis: services run as their own users and partners read only
their own stream."""

from __future__ import annotations

import asyncio
import secrets
import shlex
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from redis.exceptions import NoPermissionError

from shared.acl import partner_rules, service_rules
from shared.events.streams import partner_stream, service_stream
from shared.settings import SERVICES
from tests.conftest import auth
from tests.e2e.processes import ServiceProcess
from tests.e2e.test_walking_skeleton import population, register_all, wait_for_cases

pytestmark = pytest.mark.e2e


@pytest.fixture
def acl_users(redis_server: str, stream_prefix: str) -> Iterator[dict[str, str]]:
    """ACL users for the four services and two partners; their Redis URLs."""
    admin = redis.Redis.from_url(redis_server)
    tag = secrets.token_hex(4)
    users = {f"brug-{s}": service_rules(s, stream_prefix) for s in SERVICES}
    users |= {f"partner-{p}": partner_rules(p, stream_prefix) for p in ("vdab", "syntra")}
    urls = {}
    host = redis_server.split("://", 1)[1]
    for name, rules in users.items():
        user, password = f"{name}-{tag}", secrets.token_hex(16)
        admin.acl_setuser(user, reset=True)
        admin.execute_command("ACL", "SETUSER", user, "on", f">{password}", *shlex.split(rules))
        urls[name] = f"redis://{user}:{password}@{host}"
    yield urls
    for name in users:
        admin.acl_deluser(f"{name}-{tag}")
    admin.close()


def test_a_partner_reads_its_own_stream_and_nothing_else(
    acl_users: dict[str, str], redis_server: str, brug_env: dict[str, str]
) -> None:
    admin = redis.Redis.from_url(redis_server)
    mine, theirs = partner_stream("vdab"), partner_stream("syntra")
    admin.xadd(mine, {"event": "{}"})
    admin.xadd(theirs, {"event": "{}"})
    admin.xadd(service_stream("cases"), {"event": "{}"})
    vdab = redis.Redis.from_url(acl_users["partner-vdab"])
    try:
        assert len(vdab.xrange(mine)) == 1
        vdab.xgroup_create(mine, "vdab-reader", id="0")
        assert vdab.xreadgroup("vdab-reader", "c1", {mine: ">"})
        for forbidden in (
            lambda: vdab.xrange(theirs),
            lambda: vdab.xrange(service_stream("cases")),
            lambda: vdab.xadd(mine, {"event": "forged"}),
            lambda: vdab.xdel(mine, "0-1"),
            lambda: vdab.delete(mine),
            lambda: vdab.keys("*"),
        ):
            with pytest.raises(NoPermissionError):
                forbidden()
    finally:
        vdab.close()
        admin.delete(mine, theirs, service_stream("cases"))
        admin.close()


def test_services_work_as_their_own_users_and_cannot_write_each_others_streams(
    acl_users: dict[str, str], brug_env: dict[str, str], tmp_path: Path
) -> None:
    intake_user = redis.Redis.from_url(acl_users["brug-intake"])
    try:
        with pytest.raises(NoPermissionError):
            intake_user.xadd(service_stream("cases"), {"event": "forged"})
        with pytest.raises(NoPermissionError):
            intake_user.xrange(service_stream("signals"))
    finally:
        intake_user.close()
    # the rate limit on, as deployed: its counters live in Redis under the service's own user
    limited = {**brug_env, "BRUG_RATE_LIMIT_PER_MINUTE": "5"}
    started = [
        ServiceProcess(s, {**limited, "BRUG_REDIS_URL": acl_users[f"brug-{s}"]}, tmp_path).start()
        for s in ("intake", "cases")
    ]
    try:
        # the limit counts per minute: six writes must fall in one minute
        if time.time() % 60 > 40:
            time.sleep(61 - time.time() % 60)
        answers = asyncio.run(register_all(started[0].url, population(5, seed=9)))
        sixth = httpx.post(
            f"{started[0].url}/v1/registrations",
            json=population(6, seed=9)[5],
            headers={**auth(org="clb-gent"), "Idempotency-Key": "sixth"},
        )
        assert sixth.status_code == 429, sixth.text
        assert sixth.headers["Retry-After"]
        cases = asyncio.run(wait_for_cases(started[1].url, 5))
        assert {c["person_ref"] for c in cases} == {a["person_ref"] for a in answers}
        for process in started:
            assert "NOPERM" not in process.logs()
    finally:
        for process in started:
            process.stop()
