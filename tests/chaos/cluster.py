"""The system under chaos: a private Redis with AOF and the four services as processes, each of
which can be killed with SIGKILL and started again on the same port with the same files."""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import redis

from shared.cli.infra import free_port, redis_answers
from shared.db import Database
from shared.settings import DEV_JWT_SECRET, SERVICES
from tests.e2e.processes import ServiceProcess

STREAM_PREFIX = "chaos:"
SIGNAL_MIN_CASES = 5


class ChaosRedis:
    """A redis-server of our own, with AOF, that survives its own SIGKILL.

    `appendfsync always`: Redis writes and fsyncs the AOF before it answers, so every write it
    acknowledged (an XADD the relay then marks as published, an XACK, a group's position) is
    on disk when the process dies. With `everysec` Redis normally writes before answering too,
    but postpones the write for up to 2 s while a slow fsync runs, and a machine crash loses up
    to 1 s: acknowledged entries could then vanish, and the invariants would no longer be exact.
    The cost, one fsync per event-loop round, is small at these rates.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("the chaos harness needs redis-server on the PATH")
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [
            binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.directory.resolve()),
            "--save",
            "",
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--logfile",
            "redis.log",
        ]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        # PING answers LOADING (an error) while the AOF is replayed: ready means loaded.
        while not redis_answers(self.url, 0.2):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start (see {self.directory}/redis.log)")
            time.sleep(0.05)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    def positions(self) -> dict[str, tuple[str, dict[str, str]]]:
        """Per stream: the last entry id, and each group's last delivered id."""
        client = self.client()
        found = {}
        try:
            for key in client.scan_iter(match=f"{STREAM_PREFIX}*", _type="stream"):
                info = client.xinfo_stream(key)
                groups = {
                    g["name"].decode(): g["last-delivered-id"].decode()
                    for g in client.xinfo_groups(key)
                }
                found[key.decode()] = (info["last-generated-id"].decode(), groups)
        finally:
            client.close()
        return found

    def lost_since(self, before: dict[str, tuple[str, dict[str, str]]]) -> list[str]:
        """What Redis acknowledged before its kill and no longer holds after the restart:
        entries (the last one of each stream must still be there) or groups' positions."""
        client = self.client()
        problems = []
        try:
            for stream, (last, groups) in before.items():
                if not client.exists(stream):
                    problems.append(f"{stream}: gone after the Redis kill")
                    continue
                if not client.xrange(stream, min=last, max=last):
                    problems.append(f"{stream}: entry {last} gone after the Redis kill")
                after = {
                    g["name"].decode(): g["last-delivered-id"].decode()
                    for g in client.xinfo_groups(stream)
                }
                for group, delivered in groups.items():
                    if group not in after or _id(after[group]) < _id(delivered):
                        problems.append(f"{stream}: group {group} went back from {delivered}")
        finally:
            client.close()
        return problems


def _id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass
class Cluster:
    """Redis and the four services; `kill_and_restart` is the chaos."""

    workdir: Path
    database_template: str
    reclaim_idle_ms: int = 1000
    log_level: str = "WARNING"
    redis: ChaosRedis = field(init=False)
    services: dict[str, ServiceProcess] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.redis = ChaosRedis(self.workdir / "redis")

    @property
    def env(self) -> dict[str, str]:
        return {
            "BRUG_ENV": "test",
            "BRUG_REDIS_URL": self.redis.url,
            "BRUG_DATABASE_URL": self.database_template,
            "BRUG_STREAM_PREFIX": STREAM_PREFIX,
            "BRUG_JWT_SECRET": DEV_JWT_SECRET,
            "BRUG_RECLAIM_IDLE_MS": str(self.reclaim_idle_ms),
            "BRUG_OUTBOX_POLL_SECONDS": "0.5",
            "BRUG_RATE_LIMIT_PER_MINUTE": "0",
            "BRUG_LOG_LEVEL": self.log_level,
            "BRUG_SIGNAL_MIN_CASES": str(SIGNAL_MIN_CASES),
        }

    def url(self, service: str) -> str:
        return self.services[service].url

    def database(self, service: str) -> Database:
        return Database(self.database_template.replace("{service}", service))

    def start(self) -> None:
        self.redis.start()
        logs = self.workdir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        self.services = {s: ServiceProcess(s, self.env, logs) for s in SERVICES}
        # Four databases, four migrations: they may all start at once.
        with ThreadPoolExecutor(len(SERVICES)) as pool:
            list(pool.map(lambda p: p.start(), self.services.values()))

    def kill(self, target: str) -> None:
        if target == "redis":
            self.redis.kill()
        else:
            self.services[target].kill()

    def restart(self, target: str) -> None:
        if target == "redis":
            self.redis.start()
        else:
            self.services[target].start()

    def stop(self) -> None:
        for process in self.services.values():
            process.stop()
        self.redis.stop()

    def logs(self, service: str, tail: int = 4000) -> str:
        return self.services[service].logs()[-tail:]
