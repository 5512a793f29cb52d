"""`brug serve SERVICE`: one service in this process, under uvicorn.

SIGTERM (or SIGINT) starts one shutdown deadline (`shared.runtime.SHUTDOWN_SECONDS`): the
consumers stop reading at once, uvicorn drains requests for at most `HTTP_DRAIN_SECONDS`, the
lifespan finishes the batches in hand and flushes the outbox within what is left, then the
last spans get `SPAN_FLUSH_SECONDS`. All of it ends in exit 0 well within 10 seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
import socket
import sys
from collections.abc import Iterator

import uvicorn

from shared import logs, telemetry
from shared.runtime import HTTP_DRAIN_SECONDS, begin_shutdown
from shared.settings import UnsafeSettings, get_settings

# After the runtime's deadline: how long queued spans may take to reach the collector.
SPAN_FLUSH_SECONDS = 1.0


def _port_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class QuietServer(uvicorn.Server):
    """uvicorn re-raises SIGTERM after a graceful shutdown, so the process would end 'killed by
    SIGTERM'; here the signals only ask the server to stop, and a clean stop exits 0."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _on_signal(server: uvicorn.Server, sig: signal.Signals) -> None:
    """Start the shutdown clock and stop consuming now; then let uvicorn stop serving."""
    if not server.should_exit:
        begin_shutdown()
    server.handle_exit(sig, None)


async def _serve_until_signalled(server: uvicorn.Server) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, _on_signal, server, sig)
    await server.serve()


def app_factory_path(service: str) -> str:
    return f"services.{service}.app:create_app"


def serve(service: str, port: int | None = None) -> int:
    settings = get_settings()
    try:
        settings.refuse_unsafe_production()
    except UnsafeSettings as exc:
        print(f"brug {service}: {exc}", file=sys.stderr)
        return 2
    importlib.import_module(f"services.{service}.app")  # fail early on a broken install
    logs.configure(service, settings.log_level)
    port = port or settings.port_for(service)
    if not _port_free(settings.host, port):
        print(
            f"brug {service}: port {port} on {settings.host} is taken; stop what uses it, "
            "or choose others with BRUG_BASE_PORT (all services) or --port (this one)",
            file=sys.stderr,
        )
        return 2
    logging.getLogger("brug").info("%s listening on http://%s:%d", service, settings.host, port)
    config = uvicorn.Config(
        app_factory_path(service),
        factory=True,
        host=settings.host,
        port=port,
        log_level="warning",
        access_log=False,
        log_config=None,  # keep our JSON handler
        timeout_graceful_shutdown=int(HTTP_DRAIN_SECONDS),
    )
    try:
        # uvloop where installed (uvicorn's "auto"): asyncio.run would take the slower default.
        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(_serve_until_signalled(QuietServer(config)))
    finally:
        if not telemetry.shutdown_tracing(SPAN_FLUSH_SECONDS):
            logging.getLogger("brug").warning("spans not all exported at shutdown")
    return 0
