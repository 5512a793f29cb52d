"""`brug up`: Redis (found or started), then the four services as four processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from shared.cli.infra import InfraUnavailable, ensure_redis
from shared.settings import SERVICES, UnsafeSettings, get_settings


def run_all(data_dir: str) -> int:
    settings = get_settings().model_copy(update={"port": None})
    try:
        settings.refuse_unsafe_production()
    except UnsafeSettings as exc:
        print(f"brug: {exc}", file=sys.stderr)
        return 2
    data = Path(data_dir)
    data.mkdir(parents=True, exist_ok=True)
    try:
        redis = ensure_redis(settings.redis_url, data)
    except InfraUnavailable as exc:
        print(f"brug: {exc}", file=sys.stderr)
        return 1
    env = dict(os.environ, BRUG_REDIS_URL=redis.url)
    env.pop("BRUG_PORT", None)  # each service takes its own port after BRUG_BASE_PORT
    if "BRUG_DATABASE_URL" not in os.environ:
        env["BRUG_DATABASE_URL"] = f"sqlite+aiosqlite:///{data.resolve()}/{{service}}.db"
    processes: dict[str, subprocess.Popen[bytes]] = {}
    stopping = False

    def request_stop(_signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    try:
        for service in SERVICES:
            processes[service] = subprocess.Popen(
                [sys.executable, "-m", "shared.cli.main", "serve", service], env=env
            )
        urls = {s: f"http://{settings.host}:{settings.port_for(s)}" for s in SERVICES}
        if not _wait_ready(urls, processes, lambda: stopping):
            return 1
        print(f"\nbrug is up (Redis at {redis.url.split('@')[-1]}, data in {data}/):")
        for service, url in urls.items():
            print(f"  {service:9} {url}   API docs: {url}/docs")
        print("Ctrl-C stops everything.\n", flush=True)
        while not stopping:
            for service, process in processes.items():
                if process.poll() is not None:
                    print(
                        f"brug: {service} exited ({process.returncode}); stopping", file=sys.stderr
                    )
                    return 1
            time.sleep(0.3)
        return 0
    finally:
        _stop(processes)
        redis.stop()


def _wait_ready(
    urls: dict[str, str], processes: dict[str, subprocess.Popen[bytes]], stopping: object
) -> bool:
    deadline = time.monotonic() + 60
    pending = set(urls)
    while pending and time.monotonic() < deadline:
        if callable(stopping) and stopping():
            return False
        for service in list(pending):
            if processes[service].poll() is not None:
                print(f"brug: {service} failed to start", file=sys.stderr)
                return False
            try:
                if httpx.get(f"{urls[service]}/readyz", timeout=1).status_code == 200:
                    pending.discard(service)
            except httpx.HTTPError:
                pass
        time.sleep(0.2)
    if pending:
        print(f"brug: not ready after 60 s: {', '.join(sorted(pending))}", file=sys.stderr)
        return False
    return True


def _stop(processes: dict[str, subprocess.Popen[bytes]]) -> None:
    for process in processes.values():
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 12
    for process in processes.values():
        try:
            process.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            process.kill()
