"""The edge's admin listener: ``/metrics`` (Prometheus text), ``/health`` and ``/ready``.

Loopback by default (``[admin]`` in edge.toml; port 0: off). The hot path pays nothing per
message for it: the core counts in plain integers (``EdgeCore.stats``) and this listener
turns them into the exposition only when it is scraped. One worker, one listener: with
several workers, worker ``n`` listens on ``port + n``.

A deliberately small HTTP/1.1 server on asyncio streams (GET only, one request per
connection, bounded request head): it answers an operator's scraper, not the internet.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import NamedTuple

from policy import FeedFollower, PolicyRuntime

__all__ = ["Admin", "Reloads", "exposition"]

#: Largest request head read (a scraper's GET is a few hundred bytes).
MAX_HEAD = 8192
#: Seconds a client gets to send its request.
READ_TIMEOUT = 5.0

_TEXT = "text/plain; version=0.0.4; charset=utf-8"
_PHRASES = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


class Reloads(NamedTuple):
    """The worker's SIGHUP reloads so far (``lifecycle.Reloader.outcome``)."""

    ok: int = 0
    """Reloads that swapped in the rules compiled from the directory."""
    failed: int = 0
    """Reloads refused (rule errors, engine failure): the running rules stayed."""
    error: str = ""
    """The last reload's located errors (``file:line: ...``); '' when it succeeded."""
    seconds: float = 0.0
    """How long the last reload took (compile and swap, then the accounts re-read)."""


#: No SIGHUP reload yet.
NO_RELOADS = Reloads()


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def exposition(
    stats: dict[str, int],
    gauges: dict[str, float],
    revision: str,
    follower_state: str,
    worker: int,
    reloads: Reloads = NO_RELOADS,
) -> str:
    """The Prometheus text exposition of one worker's counters and gauges."""
    w = f'worker="{worker}"'
    lines = [
        "# HELP callpolicy_sip_events_total SIP edge events by kind (requests, refusals by "
        "reason, forwards, emergency calls, shed calls ...)",
        "# TYPE callpolicy_sip_events_total counter",
    ]
    for name in sorted(stats):
        lines.append(f'callpolicy_sip_events_total{{{w},event="{_escape(name)}"}} {stats[name]}')
    for name in sorted(gauges):
        metric = f"callpolicy_sip_{name}"
        lines += [f"# TYPE {metric} gauge", f"{metric}{{{w}}} {gauges[name]}"]
    lines += [
        "# TYPE callpolicy_rules_info gauge",
        f'callpolicy_rules_info{{{w},revision="{_escape(revision)}"}} 1',
        "# TYPE callpolicy_follower_state gauge",
    ]
    for state in ("NOT_READY", "OK", "WARN", "ERROR"):
        value = 1 if state == follower_state else 0
        lines.append(f'callpolicy_follower_state{{{w},state="{state}"}} {value}')
    lines += [
        "# HELP callpolicy_rules_reloads_total Rules reloads asked for by SIGHUP, by outcome",
        "# TYPE callpolicy_rules_reloads_total counter",
        f'callpolicy_rules_reloads_total{{{w},result="ok"}} {reloads.ok}',
        f'callpolicy_rules_reloads_total{{{w},result="failed"}} {reloads.failed}',
        "# TYPE callpolicy_rules_last_reload_failed gauge",
        f"callpolicy_rules_last_reload_failed{{{w}}} {1 if reloads.error else 0}",
        "# TYPE callpolicy_rules_last_reload_seconds gauge",
        f"callpolicy_rules_last_reload_seconds{{{w}}} {reloads.seconds:.6f}",
    ]
    return "\n".join(lines) + "\n"


class Admin:
    """The listener of one worker."""

    def __init__(
        self,
        stats: Callable[[], dict[str, int]],
        gauges: Callable[[], dict[str, float]],
        runtime: PolicyRuntime,
        follower: FeedFollower,
        worker: int,
        reloads: Callable[[], Reloads] = lambda: NO_RELOADS,
    ) -> None:
        """Serve ``stats()`` and ``gauges()`` of the core, the rules of ``runtime``, the
        state of ``follower`` and the outcome of SIGHUP reloads (``reloads()``)."""
        self._reloads = reloads
        self._stats = stats
        self._gauges = gauges
        self._runtime = runtime
        self._follower = follower
        self._worker = worker
        self.server: asyncio.Server | None = None

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port``; the port bound (0 picks one)."""
        self.server = await asyncio.start_server(self._serve, host, port)
        return int(self.server.sockets[0].getsockname()[1])

    def close(self) -> None:
        """Stop listening."""
        if self.server is not None:
            self.server.close()

    def _answer(self, path: str) -> tuple[int, str, str]:
        state, message = self._follower.status
        if path == "/metrics":
            body = exposition(
                dict(self._stats()),
                self._gauges(),
                self._runtime.info.revision,
                state,
                self._worker,
                self._reloads(),
            )
            return 200, _TEXT, body
        if path == "/health":
            return 200, "application/json", json.dumps(self._health(state, message))
        if path == "/ready":
            ready = state in ("OK", "WARN")  # WARN: a reload failed, the old rules serve
            doc = {"status": "ready" if ready else "not_ready", "rules_follower": state,
                   "rules_revision": self._runtime.info.revision}  # fmt: skip
            return (200 if ready else 503), "application/json", json.dumps(doc)
        return 404, "text/plain", "not found\n"

    def _health(self, state: str, message: str) -> dict[str, str]:
        """Degraded while the follower is not OK or the last SIGHUP reload was refused
        (the running rules still serve; the files on disk are not what runs)."""
        reload_error = self._reloads().error
        degraded = state != "OK" or bool(reload_error)
        doc = {
            "status": "degraded" if degraded else "ok",
            "rules_follower": state,
            "rules_revision": self._runtime.info.revision,
        }
        if state != "OK":
            doc["message"] = message
        if reload_error:
            doc["reload_error"] = reload_error
        return doc

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            writer.close()
            return
        parts = head.split(b"\r\n", 1)[0].split()
        if len(head) > MAX_HEAD or len(parts) != 3 or parts[0] != b"GET":
            status, ctype, body = 405, "text/plain", "GET only\n"
        else:
            status, ctype, body = self._answer(parts[1].split(b"?", 1)[0].decode("latin-1"))
        data = body.encode()
        writer.write(
            f"HTTP/1.1 {status} {_PHRASES[status]}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
            + data
        )
        try:
            await writer.drain()
        finally:
            writer.close()
