"""The bench's load generator reads each answer whole, sized or chunked, so the next answer
on the same keep-alive connection starts where it should."""

from __future__ import annotations

import asyncio

from tests.bench.load import Connection

CHUNKED = (
    b"HTTP/1.1 503 Service Unavailable\r\ntransfer-encoding: chunked\r\n\r\n"
    b'5\r\n{"a":\r\n3\r\n 1}\r\n0\r\n\r\n'
)
SIZED = b'HTTP/1.1 202 Accepted\r\nContent-Length: 8\r\n\r\n{"b": 2}'


async def test_a_chunked_answer_then_a_sized_one_on_one_connection() -> None:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for answer in (CHUNKED, SIZED):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        connection = await Connection.open(f"http://127.0.0.1:{port}")
        request = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
        first = await connection.send(request)
        second = await connection.send(request)
        await connection.close()
    assert (first.status, first.body) == (503, b'{"a": 1}')
    assert (second.status, second.body) == (202, b'{"b": 2}')
