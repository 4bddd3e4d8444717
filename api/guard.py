"""Bounded cost for every request, before any handler runs.

- The bearer token is checked before a byte of the body is read: an unauthenticated 200 MB body costs
  nothing but its headers (FastAPI would otherwise parse a JSON body before its dependencies run).
- Bodies are capped by route (an upload by the upload limit, everything else by `max_json_bytes`), by the
  declared length up front and by counting while they stream.
- A body must keep arriving: each part within `body_timeout_s`, and the whole at `body_min_bytes_per_s`
  after that grace. Headers must arrive within `header_timeout_s` (uvicorn has no such timeout of its own,
  so `guarded_protocol` adds one), and idle keep-alive connections close after `keep_alive_s`.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from api.auth import Principal, authenticate
from api.errors import Unauthorized

if TYPE_CHECKING:
    from api.desk import Desk


async def _reply(send: Send, status: int, message: str, headers: dict[str, str] | None = None) -> None:
    body = json.dumps({"error": message}).encode()
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(b"connection", b"close")] + [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    """ASGI middleware in front of the API routes (see the module's docstring)."""

    def __init__(self, app: ASGIApp, desk: Desk) -> None:
        self.app = app
        self.desk = desk

    def _authenticate(self, headers: Headers, address: str, path: str) -> Principal:
        auth = headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        token = token.strip() if scheme.lower() == "bearer" else ""
        try:
            with self.desk.db.session() as session:
                return authenticate(session, token or None)
        except Unauthorized as exc:
            self.desk.audit_auth_failure(address, path, exc.reason, token, bounded=not exc.known)
            raise

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/api/"):
            await self.app(scope, receive, send)
            return
        s = self.desk.settings
        headers = Headers(scope=scope)
        address = (scope.get("client") or ("unknown", 0))[0]
        try:
            who = await run_in_threadpool(self._authenticate, headers, address, scope["path"])
        except Unauthorized as exc:
            await _reply(send, 401, str(exc), {"WWW-Authenticate": "Bearer"})
            return
        scope.setdefault("state", {})["principal"] = who
        # An upload's size is the upload route's to check (it names the file, and streams to disk); the guard
        # still holds it to the timeouts.
        upload = scope["method"] == "POST" and scope["path"] == "/api/documents"
        cap = s.max_upload_bytes if upload else s.max_json_bytes
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > cap and not upload:
            await _reply(send, 413, f"request body of {int(declared):,} bytes is over this route's limit of {cap:,}")
            return
        expected = int(declared) if declared.isdigit() else cap
        deadline = time.monotonic() + s.body_timeout_s + expected / s.body_min_bytes_per_s
        received = 0

        async def guarded_receive() -> Message:
            nonlocal received
            left = min(s.body_timeout_s, deadline - time.monotonic())
            try:
                message = await asyncio.wait_for(receive(), timeout=max(0.0, left))
            except TimeoutError:
                raise HTTPException(408, "the request body arrived too slowly; the connection is closed") from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > cap and not upload:
                    raise HTTPException(413, f"request body over this route's limit of {cap:,} bytes")
            return message

        await self.app(scope, guarded_receive, send)


class _HeadersInTime:
    """A time limit on receiving a request's headers (slowloris), for either of uvicorn's HTTP protocols:
    armed when a connection opens and after each response, disarmed when the next request's headers are in."""

    header_timeout_s = 10.0
    cycle: Any
    loop: asyncio.AbstractEventLoop
    transport: Any

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm()

    def _arm(self) -> None:
        self._waiting_for = self.cycle
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _headers_too_slow(self) -> None:
        if self.cycle is self._waiting_for and not self.transport.is_closing():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        if self._header_timer is not None and self.cycle is not self._waiting_for:
            self._header_timer.cancel()
            self._header_timer = None

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        super().connection_lost(exc)  # type: ignore[misc]


class GuardedH11Protocol(_HeadersInTime, H11Protocol):
    """uvicorn's h11 protocol with the header time limit."""


def guarded_protocol(header_timeout_s: float) -> type[asyncio.Protocol]:
    """The HTTP protocol `regassist serve` runs: uvicorn's httptools one where installed (faster), else h11,
    with the header time limit."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        base: type[asyncio.Protocol] = GuardedH11Protocol
    else:
        base = type("GuardedHttpToolsProtocol", (_HeadersInTime, HttpToolsProtocol), {})
    return type("Protocol", (base,), {"header_timeout_s": header_timeout_s})
