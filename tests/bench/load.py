"""A small HTTP/1.1 load generator on asyncio streams, for `make bench`.

The load shares two cores with Redis and the services, so it must cost little: requests are
serialised once, sent over keep-alive connections, and only the status line and Content-Length
are parsed (httpx spends about a millisecond of CPU per request; this, a few tens of
microseconds). Two ways to drive: as fast as N clients go, or at a fixed rate (open loop: a
request leaves at its time whether or not earlier ones have come back).
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse


@dataclass
class Answer:
    status: int
    body: bytes
    sent: float  # perf_counter when the request left
    answered: float  # perf_counter when the whole answer was in

    @property
    def ms(self) -> float:
        return (self.answered - self.sent) * 1000

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Outcome:
    answers: list[Answer] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> list[Answer]:
        return [a for a in self.answers if 200 <= a.status < 300]

    @property
    def per_second(self) -> float:
        return len(self.ok) / self.seconds if self.seconds else 0.0

    def percentiles(self) -> dict[str, float]:
        return percentiles([a.ms for a in self.ok])


def percentiles(values: list[float]) -> dict[str, float]:
    """p50 and p99 by nearest rank (p99 of 100 values is the 99th smallest)."""
    if not values:
        return {"p50_ms": math.nan, "p99_ms": math.nan}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(math.ceil(p * len(ordered)) - 1, 0)]

    return {"p50_ms": round(rank(0.50), 2), "p99_ms": round(rank(0.99), 2)}


RequestMaker = Callable[[int], bytes]


def post_json(url: str, path: str, headers: dict[str, str]) -> Callable[[Any, str], bytes]:
    """A function (body, idempotency key) -> the raw bytes of a POST to `path`."""
    host = urlparse(url).netloc
    fixed = "".join(f"{k}: {v}\r\n" for k, v in headers.items())

    def make(body: Any, key: str) -> bytes:
        payload = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"Idempotency-Key: {key}\r\nContent-Length: {len(payload)}\r\n{fixed}\r\n"
        )
        return head.encode() + payload

    return make


class Connection:
    """One keep-alive connection; one request in flight at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> Connection:
        parsed = urlparse(url)
        reader, writer = await asyncio.open_connection(parsed.hostname, parsed.port)
        return cls(reader, writer)

    async def send(self, request: bytes) -> Answer:
        sent = time.perf_counter()
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        chunked = False
        for line in head.split(b"\r\n")[1:]:
            name = line[:18].lower()
            if name.startswith(b"content-length:"):
                length = int(line[15:])
            elif name == b"transfer-encoding:":
                chunked = b"chunked" in line[18:].lower()
        if chunked:
            body = await self._chunks()
        else:
            body = await self.reader.readexactly(length) if length else b""
        return Answer(status, body, sent, time.perf_counter())

    async def _chunks(self) -> bytes:
        """A chunked body (a server may answer so when it does not say the length first)."""
        parts = []
        while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)
        await self.reader.readuntil(b"\r\n")  # no trailers are sent: the final CRLF
        return b"".join(parts)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def closed_loop(
    url: str, requests: Iterator[bytes], *, clients: int, seconds: float
) -> Outcome:
    """`clients` connections, each sending its next request as soon as the last answered."""
    connections = [await Connection.open(url) for _ in range(clients)]
    outcome = Outcome()
    deadline = time.perf_counter() + seconds

    async def client(connection: Connection) -> None:
        while time.perf_counter() < deadline:
            outcome.answers.append(await connection.send(next(requests)))

    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in connections))
    outcome.seconds = time.perf_counter() - started
    for connection in connections:
        await connection.close()
    return outcome


async def open_loop(
    url: str, requests: Iterator[bytes], *, rate: float, seconds: float, max_in_flight: int = 1024
) -> Outcome:
    """A request every 1/rate seconds, on a free connection (a new one if none is free):
    a slow answer does not slow the load down, and latency counts from the moment a request
    was due, so queueing shows in it. Beyond `max_in_flight`, requests count as failed."""
    idle: list[Connection] = []
    in_flight = 0
    outcome = Outcome()
    tasks: list[asyncio.Task[None]] = []

    async def one(request: bytes, due: float) -> None:
        nonlocal in_flight
        if in_flight >= max_in_flight:
            outcome.answers.append(Answer(0, b"", due, time.perf_counter()))
            return
        in_flight += 1
        try:
            if idle:
                try:
                    connection = idle.pop()
                    answer = await connection.send(request)
                except (OSError, asyncio.IncompleteReadError):
                    # The server closed this connection while it was idle (its keep-alive
                    # timeout) as we reused it: send again on a new one, as an HTTP client
                    # does (the Idempotency-Key makes a repeat harmless).
                    connection = await Connection.open(url)
                    answer = await connection.send(request)
            else:
                connection = await Connection.open(url)
                answer = await connection.send(request)
        except (OSError, asyncio.IncompleteReadError):
            outcome.answers.append(Answer(0, b"", due, time.perf_counter()))
            return
        finally:
            in_flight -= 1
        answer.sent = due
        outcome.answers.append(answer)
        idle.append(connection)

    started = time.perf_counter()
    for n in range(int(rate * seconds)):
        due = started + n / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(next(requests), due)))
    await asyncio.gather(*tasks)
    outcome.seconds = time.perf_counter() - started
    for connection in idle:
        await connection.close()
    return outcome
