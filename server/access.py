"""Request ids and the request log: one ASGI wrapper around the whole application.

Every HTTP request gets an id: the caller's ``X-Request-Id`` when it is well-formed
(1-128 characters of ``A-Z a-z 0-9 . _ : -``), else a new random one. The answer carries
it back in ``X-Request-Id``, and every log event of the request has it as
``request_id`` (``policy.log_context``). With the request log on (the default of
``python -m server serve``), each request ends with one event on
``callpolicy.server.access``: method, path, status, duration_ms, request_id. The query
string is left out: ``/v1/decisions?to=...`` would log customers' numbers.

It wraps Litestar's ASGI handler rather than being a route middleware, so it also sees
the requests no route matched (404, 405) and the 500s of the exception handler.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from policy import log_context

__all__ = ["REQUEST_ID_HEADER", "RequestLog", "request_id_of"]

log = logging.getLogger("callpolicy.server.access")

REQUEST_ID_HEADER = "x-request-id"
_WELL_FORMED = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


def request_id_of(scope: Scope) -> str:
    """The caller's well-formed ``X-Request-Id``, else a new one (32 hex digits)."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id" and _WELL_FORMED.fullmatch(value):
            return value.decode("ascii")
    return uuid.uuid4().hex


class RequestLog:
    """ASGI wrapper: request id in, ``X-Request-Id`` out, one access event per request."""

    def __init__(
        self, app: ASGIApp, enabled: bool, clock: Callable[[], float] = time.perf_counter
    ) -> None:
        """Wrap ``app``; ``enabled``: log each request (ids are handed out either way)."""
        self.app = app
        self.enabled = enabled
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one connection scope (HTTP gets an id; everything else passes through)."""
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        rid = request_id_of(scope)
        header = (REQUEST_ID_HEADER.encode(), rid.encode())
        status = 0  # no answer started: the client went away or the app failed to answer

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        start = self.clock()
        try:
            with log_context(request_id=rid):
                await self.app(scope, receive, send_with_id)
        finally:
            if self.enabled:
                self._log(scope, status, rid, start)

    def _log(self, scope: Scope, status: int, rid: str, start: float) -> None:
        method = scope.get("method", "")
        path = scope.get("path", "")
        ms = round((self.clock() - start) * 1000, 3)
        level = logging.WARNING if status >= 500 or status == 0 else logging.INFO
        fields = {"method": method, "path": path, "status": status, "duration_ms": ms}
        log.log(level, "%s %s %s", method, path, status, extra={**fields, "request_id": rid})
