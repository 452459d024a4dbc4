"""The TCP listener (RFC 3261 18): one asyncio Protocol per connection, same core as UDP.

Each connection cuts its byte stream into messages with ``StreamFramer`` (Content-Length,
RFC 3261 18.3) and hands them to the worker's ``EdgeProtocol``, which owns the core, the
one timer and the output. The connection registers itself in ``EdgeProtocol.streams``
under its peer address, so whatever the core sends to that address (the answers to the
requests that came over it, RFC 3261 18.2.2) is written to it.

Bounds: at most ``max_connections`` per worker (beyond, a new connection is closed at
once), an idle timeout (no byte received for ``idle_timeout`` seconds closes it; a
RFC 5626 CRLF keep-alive counts), a framing error closes it (after RFC 3261 18.3 a
stream cannot be resynchronised), and a peer that does not read its answers is not read
either (flow control), so its write buffer stays bounded.
"""

from __future__ import annotations

import asyncio
import socket
from typing import cast

from .transport import Addr, EdgeProtocol
from .wire.message import StreamFramer, StreamFramingError

__all__ = ["StreamProtocol", "bind_tcp", "close_streams", "open_stream_server"]


class StreamProtocol(asyncio.Protocol):
    """One accepted TCP connection: messages in to the shared core, registered for output."""

    def __init__(self, main: EdgeProtocol, max_connections: int, idle_timeout: float) -> None:
        """``main`` is the worker's UDP protocol: its core, timer and ``streams`` map."""
        self.main = main
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.transport: asyncio.Transport | None = None
        self.peer: Addr | None = None
        self._framer = StreamFramer(main.core.settings.max_message_bytes)
        self._last = 0.0
        self._idle: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Register the connection by peer address, or close it if the worker is full."""
        conn = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        stats = self.main.core.stats
        name = conn.get_extra_info("peername")
        if len(self.main.streams) >= self.max_connections or not name:
            stats["tcp_refused"] += 1
            conn.abort()
            return
        stats["tcp_accepted"] += 1
        self.transport = conn
        self.peer = (str(name[0]), int(name[1]))
        self.main.streams[self.peer] = conn
        loop = self.main.loop
        self._last = loop.time()
        self._idle = loop.call_at(self._last + self.idle_timeout, self._check_idle)

    def data_received(self, data: bytes) -> None:
        """Frame the bytes; each whole message goes to the core; then one flush."""
        conn, peer = self.transport, self.peer
        if conn is None or peer is None or conn.is_closing():
            return
        self._last = self.main.loop.time()
        try:
            messages = self._framer.feed(data)
        except StreamFramingError as exc:
            # RFC 3261 18.3: no usable Content-Length on a stream, or too large: the next
            # message's start is unknown, so the connection cannot go on. The messages
            # before it are served, and a head whose Content-Length is wrong is answered
            # (400) before the close.
            self.main.core.stats["tcp_framing_error"] += 1
            for message in exc.messages:
                self.main.feed(message, peer)
            if exc.head is not None:
                self.main.feed(exc.head, peer)
            self.main.flush()
            self.close()
            return
        for message in messages:
            self.main.feed(message, peer)
        if messages:
            self.main.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        """Unregister; the core keeps its transactions (answers then go by UDP)."""
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        self._unregister()

    def close(self) -> None:
        """Unregister first (nothing more is written to it), then close gracefully."""
        self._unregister()
        if self.transport is not None:
            self.transport.close()

    def _unregister(self) -> None:
        if self.peer is not None and self.main.streams.get(self.peer) is self.transport:
            del self.main.streams[self.peer]

    def pause_writing(self) -> None:
        """The peer does not read its answers: stop reading its requests meanwhile."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        """The peer caught up: read again."""
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def _check_idle(self) -> None:
        # One timer per connection, re-armed only when it fires: cheaper than moving it
        # on every read.
        self._idle = None
        if self.transport is None or self.transport.is_closing():
            return
        deadline = self._last + self.idle_timeout
        loop = self.main.loop
        if loop.time() >= deadline:
            self.main.core.stats["tcp_idle_closed"] += 1
            self.close()
        else:
            self._idle = loop.call_at(deadline, self._check_idle)


def bind_tcp(host: str, port: int, reuse_port: bool) -> socket.socket:
    """A bound TCP socket, not yet listening (SO_REUSEPORT when workers share ``port``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    # A restart must not wait for the last run's connections in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        # The kernel spreads new connections over the workers, as it spreads datagrams.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.setblocking(False)
    return sock


async def open_stream_server(
    main: EdgeProtocol, sock: socket.socket, max_connections: int, idle_timeout: float
) -> asyncio.AbstractServer:
    """Accept TCP connections on ``sock`` into ``main``'s core (listening starts here)."""
    loop = asyncio.get_running_loop()
    return await loop.create_server(
        lambda: StreamProtocol(main, max_connections, idle_timeout), sock=sock
    )


def close_streams(server: asyncio.AbstractServer, main: EdgeProtocol) -> None:
    """Stop accepting and close every live connection (a server's close() leaves them)."""
    server.close()
    for conn in list(main.streams.values()):
        conn.close()
