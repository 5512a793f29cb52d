"""Find the Redis (and PostgreSQL) brug needs, or start a private one, or say what is missing."""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import redis


class InfraUnavailable(RuntimeError):
    """Nothing answers and nothing could be started; the message says what to install."""


@dataclass
class Provided:
    """A server brug uses: its URL and, if brug started it, how to stop it."""

    url: str
    stop_callbacks: list[Any] = field(default_factory=list)

    def stop(self) -> None:
        for callback in reversed(self.stop_callbacks):
            with contextlib.suppress(Exception):
                callback()


def redis_answers(url: str, timeout: float = 1.0) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
        return bool(client.ping())
    except (redis.RedisError, OSError, ValueError):
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_private_redis(directory: Path, *, appendonly: bool = False) -> Provided:
    """A redis-server from the PATH on a free port, its files under `directory`."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise InfraUnavailable("redis-server is not on the PATH")
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    args = [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(directory.resolve()),
        "--save",
        "",
        "--appendonly",
        "yes" if appendonly else "no",
        "--logfile",
        "redis.log",
    ]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while not redis_answers(url, 0.2):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise InfraUnavailable(f"redis-server did not start (see {directory}/redis.log)")
        time.sleep(0.05)

    def stop() -> None:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()

    return Provided(url, [stop])


def docker_answers() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


def start_redis_container() -> Provided:
    try:
        from testcontainers.redis import RedisContainer
    except ImportError:
        from testcontainers.community.redis import RedisContainer
    container = RedisContainer("redis:7-alpine")
    container.start()
    host = container.get_container_host_ip()
    port = container.get_exposed_port(6379)
    return Provided(f"redis://{host}:{port}/0", [container.stop])


def ensure_redis(url: str, data_dir: Path) -> Provided:
    """The Redis at `url` if it answers; else a private redis-server; else a container."""
    if redis_answers(url):
        return Provided(url)
    reasons = [f"nothing answers at {_safe(url)}"]
    try:
        return start_private_redis(data_dir / "redis")
    except InfraUnavailable as exc:
        reasons.append(str(exc))
    if docker_answers():
        return start_redis_container()
    reasons.append("no Docker engine answers")
    raise InfraUnavailable(
        "brug needs Redis 7 or newer, and found none: "
        + "; ".join(reasons)
        + ". Install redis-server (e.g. `apt install redis-server` or `brew install redis`), "
        "or set BRUG_REDIS_URL to a Redis that runs."
    )


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(parsed.password, "***")
    return url
