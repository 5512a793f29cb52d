"""HTTP plumbing shared by the services: the body limit and clear 422s."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.domain import version_from_if_match
from shared.logs import PROBE_ROUTES

NUL_MARKERS = (b"\x00", b"\\u0000")


class RequestGuardMiddleware:
    """413 for a request body over the limit, whether it says its length or streams; 422 for a
    NUL character anywhere in the request (no database stores one in text)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                await _too_large(self.max_bytes, send)
                return
        target = scope.get("raw_path", b"") + b"?" + scope.get("query_string", b"")
        if b"%00" in target or b"\x00" in target:
            await _refuse(send, 422, "NUL characters are not accepted", "url")
            return
        received = 0
        started = False
        refused = False
        tail = b""

        async def limited_receive() -> Message:
            nonlocal received, refused, tail
            message = await receive()
            if message["type"] == "http.request" and not refused:
                chunk = message.get("body", b"")
                received += len(chunk)
                if received > self.max_bytes:
                    # Answer 413 now; the app sees a disconnect and its answer is dropped.
                    refused = True
                    if not started:
                        await _too_large(self.max_bytes, send)
                    return {"type": "http.disconnect"}
                window = tail + chunk
                if any(marker in window for marker in NUL_MARKERS):
                    refused = True
                    if not started:
                        await _refuse(send, 422, "NUL characters are not accepted", "body")
                    return {"type": "http.disconnect"}
                tail = window[-6:]
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, guarded_send)


RETRY_AFTER_SECONDS = 1


class InFlightLimitMiddleware:
    """503 with Retry-After once `limit` requests are in hand. Past what a service can
    answer, requests would otherwise pile up, each holding memory, and be answered too late
    to matter; a quick 503 tells the client to come back (an Idempotency-Key makes that
    safe). Health and metrics always answer."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.limit <= 0 or scope["path"] in PROBE_ROUTES:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            await _answer(
                send,
                503,
                {"detail": "too many requests in hand; retry shortly"},
                [(b"retry-after", str(RETRY_AFTER_SECONDS).encode())],
            )
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1


async def _too_large(max_bytes: int, send: Send) -> None:
    await _answer(send, 413, {"detail": f"request body exceeds {max_bytes} bytes"})


async def _refuse(send: Send, status: int, message: str, field: str) -> None:
    detail = [
        {"field": field, "message": message, "msg": message, "type": "value_error", "loc": [field]}
    ]
    await _answer(send, status, {"detail": detail})


async def _answer(
    send: Send, status: int, content: object, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    body = json.dumps(content).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    """`("body", "person", "national_id")` -> `person.national_id`; headers keep their name."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path"):
        parts = parts[1:]
    elif parts and parts[0] == "header":
        return "header " + ".".join(parts[1:])
    return ".".join(parts) or "body"


async def validation_error_handler(_request: Request, exc: Exception) -> JSONResponse:
    """422 that names every offending field and never echoes the input back."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {
            "field": "body" if error["type"] == "json_invalid" else field_name(error["loc"]),
            "message": error["msg"],
            "msg": error["msg"],  # FastAPI's documented shape, kept alongside
            "type": error["type"],
            "loc": list(error["loc"]),
        }
        for error in exc.errors()
    ]
    return JSONResponse(status_code=422, content={"detail": errors})


def install(app: FastAPI, *, max_body_bytes: int, max_in_flight: int) -> None:
    """The middleware and error handlers every service uses. (FastAPI itself opens a server
    span per request, continuing the caller's `traceparent`.)"""
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_middleware(RequestGuardMiddleware, max_bytes=max_body_bytes)
    app.add_middleware(InFlightLimitMiddleware, limit=max_in_flight)


def if_match_version(value: str | None, *, what: str, required: bool) -> int | None:
    """The version an If-Match header names (`3`, `"3"`, `W/"3"`): 428 if a required one is
    missing, 422 naming the header if it is not a version."""
    if value is None:
        if required:
            raise HTTPException(
                428, f"send If-Match with the {what}'s version (its ETag) to change it"
            )
        return None
    version = version_from_if_match(value)
    if version is None:
        raise RequestValidationError(
            [
                {
                    "loc": ("header", "If-Match"),
                    "msg": f"must be the {what}'s version number",
                    "type": "value_error",
                }
            ]
        )
    return version
