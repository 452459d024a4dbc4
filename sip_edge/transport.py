"""The asyncio shell around the sans-IO core: UDP in, UDP out, one timer, effects.

The socket is readable -> every datagram waiting, read in batches (``_udp.BatchSocket``,
recvmmsg) -> ``core.receive(data, addr, now)`` each -> everything from
``core.datagrams_to_send()`` sent in one batch (sendmmsg) -> re-arm one ``call_at`` timer
from ``core.get_timer()`` (aioquic ``asyncio/protocol.py``). Batches share the system
call and loop costs of a wake-up among its datagrams (benchmarks/RESULTS.md, SIP edge).
Escalation effects run in the default executor, so the ~150 ms rules-engine child never
stalls the loop.

Several workers share the listening port with SO_REUSEPORT; the kernel spreads datagrams
by source address and port, so one trunk's requests (and their retransmissions, ACKs and
CANCELs) stay on one worker. Responses from carriers would not: each worker therefore
also binds a private port, writes it in its Via and sends forwarded requests from it, so
a carrier's responses come back to the worker that holds the transaction.

On SIGTERM the worker drains (``__main__.serve``): ``drain()`` keeps the core shedding
new calls with 503 (Retry-After) while everything else goes on, so the calls in set-up
(``in_flight()``) can still get their final responses.

TCP connections (``stream.py``) feed the same core and timer. ``flush`` writes a message
to the live connection whose peer is its destination (a response to a request that came
over TCP goes back on that connection, RFC 3261 18.2.2) and sends the rest over UDP.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import socket
import time
from collections.abc import Callable

from policy import Store

from ._udp import BatchSocket
from .core.proxy import EdgeCore, Escalate
from .fast.bridge import PlaneBridge, new_plane
from .follower import run_escalation

__all__ = [
    "EdgeProtocol",
    "PlaneReader",
    "UdpReader",
    "bind_udp",
    "escalation_runner",
    "open_endpoint",
    "tune_gc",
]

log = logging.getLogger("callpolicy.sip_edge")
Addr = tuple[str, int]

#: Datagrams per recvmmsg/sendmmsg call, and batches read per wake-up before the loop
#: gets a turn (timers, TCP, the feed): at most 256 datagrams between two turns.
_BATCH = 64
_BATCHES_PER_WAKE = 4
#: How often the C data plane's counters and decision-log lines are taken (seconds).
_TICK = 0.05


class EdgeProtocol:
    """One worker's shell: its UDP sockets and TCP connections feed one core and timer."""

    def __init__(
        self,
        core: EdgeCore,
        loop: asyncio.AbstractEventLoop,
        on_effect: Callable[[Escalate], None],
        clock: Callable[[], float] | None = None,
        shed_after: float = 0.0,
    ) -> None:
        """``on_effect`` runs each Escalate effect (off the loop); new calls are shed once
        a socket has stayed behind for ``shed_after`` seconds (``limits.shed_after``)."""
        self.shed_after = shed_after
        self.core = core
        self.loop = loop
        self.on_effect = on_effect
        self.clock = clock or loop.time
        self.udp: BatchSocket | None = None
        self.requests_out: BatchSocket | None = None
        """Where forwarded requests leave from (a worker's private port), if not ``udp``."""
        self.streams: dict[Addr, asyncio.Transport] = {}
        """Live TCP connections of this worker by peer address (kept by ``stream.py``)."""
        core.streams = self.streams  # the core leaves their calls' answers to itself
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._behind: dict[int, float] = {}
        """The sockets (by id) whose reads have left datagrams waiting since (clock)."""
        self.draining = False
        """Set by :meth:`drain`: new calls are shed from then on."""

    def readable(self, sock: BatchSocket) -> None:
        """Everything waiting on ``sock`` (a bounded number of batches) into the core.

        One flush for the lot: the answers of a whole wake-up leave in one sendmmsg.
        The bound keeps timers and TCP served while a flood is read.
        """
        full = 0
        for _ in range(_BATCHES_PER_WAKE):
            batch = sock.recv()
            for data, addr in batch:
                self.feed(data, addr)
            if len(batch) < _BATCH:
                break
            full += 1
        self._settle(id(sock), full)

    def readable_declined(self, bridge: PlaneBridge) -> None:
        """What the C data plane's thread left to the core (everything but the refused
        calls it answered), into the core; then one flush.

        The plane reads the socket on its own thread, without the GIL: a wake-up here
        happens only when Python has work, so a refused call costs no Python at all.
        """
        bridge.sync()
        bridge.adopt()
        batch = bridge.plane.take_declined()
        for data, addr in batch:
            self.feed(data, addr)
        # Behind: more was waiting than a wake-up of ``readable`` reads (see there).
        full = _BATCHES_PER_WAKE if len(batch) >= _BATCH * _BATCHES_PER_WAKE else 0
        self._settle(id(bridge), full, flush=False)
        bridge.settle()
        self.flush()

    def _settle(self, key: int, full: int, flush: bool = True) -> None:
        # Behind: every batch came back full, so more was waiting than a wake-up reads
        # (over ~256 datagrams, a few ms of traffic at capacity). Once a socket has been
        # behind for shed_after seconds, and until a wake-up drains it again, new calls
        # are shed with 503 before they cost state. A shorter hold-up (a reload, a
        # collection, a busy neighbour) is worked off from the socket's buffer.
        behind = self._behind
        if full == _BATCHES_PER_WAKE:
            behind.setdefault(key, self.clock())
        else:
            behind.pop(key, None)
        shed = self.draining
        if behind and not shed:
            since = min(behind.values())
            shed = self.clock() - since >= self.shed_after
        self.core.set_shedding(shed)
        if flush:
            self.flush()

    def feed(self, data: bytes, addr: Addr) -> None:
        """One whole message into the core, without flushing (a read may hold several)."""
        try:
            self.core.receive(data, addr, self.clock())
        except Exception:  # last resort: a bug must not stop the edge
            self.core.stats["internal_error"] += 1
            log.exception("sip_edge: internal error on a message from %s", addr[0])

    def flush(self) -> None:
        """Send what the core produced, run its effects, re-arm the timer."""
        udp = self.udp
        answers: list[tuple[bytes, Addr]] = []
        requests: list[tuple[bytes, Addr]] = []
        streams = self.streams
        for data, dest in self.core.datagrams_to_send():
            # RFC 3261 18.2.2: a response to a request that came over TCP goes back on
            # its connection; a peer's live connection also carries requests to it.
            conn = streams.get(dest) if streams else None
            if conn is not None:
                conn.write(data)
            # Responses start with the SIP version; everything else is a request.
            elif data.startswith(b"SIP/2.0 "):
                answers.append((data, dest))
            else:
                requests.append((data, dest))
        if udp is not None:
            if answers:
                udp.send(answers)
            if requests:
                (self.requests_out or udp).send(requests)
        for effect in self.core.effects():
            self.on_effect(effect)
        deadline = self.core.get_timer()
        # Re-arm only for an earlier deadline: a timer firing early costs one idle
        # handle_timer(), while re-arming on every datagram costs a cancel + call_at.
        if deadline is not None and (self._timer_at is None or deadline < self._timer_at):
            if self._timer is not None:
                self._timer.cancel()
            self._timer = self.loop.call_at(deadline, self._fire)
            self._timer_at = deadline

    def _fire(self) -> None:
        self._timer = self._timer_at = None
        try:
            self.core.handle_timer(self.clock())
        except Exception:  # last resort, as above
            self.core.stats["internal_error"] += 1
            log.exception("sip_edge: internal error in a timer")
        self.flush()

    def drain(self) -> None:
        """Stop taking new calls (503, RFC 3261 21.5.4); calls in set-up go on."""
        self.draining = True
        self.core.set_shedding(True)

    def in_flight(self) -> int:
        """Calls in set-up: INVITEs forwarded and not yet answered with a final response."""
        return self.core.in_flight  # the core's own count (it admits calls against it)

    def close(self) -> None:
        """Cancel the timer."""
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._timer_at = None


class PlaneReader:
    """A bound UDP socket read by the C data plane's thread for ``main`` (closes the
    socket); the core's own datagrams leave through a send-only ``BatchSocket`` on it.

    ``private``: the worker's private port (IPv4), read by the same thread, so the
    answers to forwarded requests are relayed in C or queued with everything else for
    one wake-up of the core; the core's requests leave from it (``requests``). ``pause``:
    the plane's read moderation in seconds (``Plane.start``).
    """

    def __init__(
        self,
        main: EdgeProtocol,
        sock: socket.socket,
        private: socket.socket | None = None,
        pause: float = 0.0,
    ) -> None:
        self.main = main
        self.sock = sock
        self.private = private
        size = main.core.settings.max_message_bytes + 1
        self.bridge = new_plane(main.core, sock.fileno(), _BATCH, size)
        self.batch = BatchSocket(sock.fileno(), int(sock.family), _BATCH, 1)
        self.requests: BatchSocket | None = None
        if private is not None:
            self.requests = BatchSocket(private.fileno(), int(private.family), _BATCH, 1)
        self.bridge.sync()  # the tables before the first datagram
        second = private.fileno() if private is not None else -1
        self._wake = self.bridge.plane.start(second, pause)
        main.loop.add_reader(self._wake, main.readable_declined, self.bridge)
        self._tick_handle: asyncio.TimerHandle | None = main.loop.call_later(_TICK, self._tick)

    def _tick(self) -> None:
        """The plane's counters into ``stats`` and its refusals into the decision log,
        every ``_TICK`` seconds (what ``/metrics`` shows lags by at most that), the calls
        it handed back into the core (``in_flight`` lags by at most that while nothing
        else wakes the core), and its tables in step with a rules reload."""
        try:
            self.bridge.sync()
            if self.bridge.adopt():  # calls the plane handed back since the last wake-up
                self.main.flush()  # their timers (Timer L ...) re-armed
            self.bridge.settle()
        except Exception:  # last resort: the tick must go on
            log.exception("sip_edge: internal error settling the data plane")
        self._tick_handle = self.main.loop.call_later(_TICK, self._tick)

    def close(self) -> None:
        """Stop the thread and reading, close the sockets (idempotent)."""
        if self._tick_handle is None:
            return
        self._tick_handle.cancel()
        self._tick_handle = None
        self.bridge.plane.stop()
        self.main.loop.remove_reader(self._wake)
        self.bridge.adopt()
        self.bridge.settle()
        self.sock.close()
        if self.private is not None:
            self.private.close()


class UdpReader:
    """A bound UDP socket read by the loop in batches for ``main`` (closes the socket)."""

    def __init__(self, main: EdgeProtocol, sock: socket.socket) -> None:
        self.main = main
        self.sock = sock
        # One byte over the core's limit: a longer datagram arrives cut short but still
        # over the limit, so the core drops it as too large (the kernel counts the cut).
        size = main.core.settings.max_message_bytes + 1
        self.batch = BatchSocket(sock.fileno(), int(sock.family), _BATCH, size)
        self._fd = sock.fileno()
        main.loop.add_reader(self._fd, main.readable, self.batch)

    def close(self) -> None:
        """Stop reading and close the socket (idempotent)."""
        if self._fd >= 0:
            self.main.loop.remove_reader(self._fd)
            self._fd = -1
            self.sock.close()


def tune_gc() -> None:
    """Call once the rules and accounts are loaded, before serving.

    The compiled rules are long-lived: keep them out of every future GC pass. Each call
    allocates a few hundred objects and frees nearly all of them by reference counting;
    a larger first generation means far fewer collections scanning live transactions.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 100)


def bind_udp(host: str, port: int, reuse_port: bool) -> socket.socket:
    """A bound UDP socket (SO_REUSEPORT when several workers share ``port``)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    # Bursts of set-ups: a larger receive buffer drops fewer datagrams under load.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    sock.bind((host, port))
    sock.setblocking(False)
    return sock


def escalation_runner(loop: asyncio.AbstractEventLoop, store: Store) -> Callable[[Escalate], None]:
    """Run Escalate effects in the default executor; log failures, never raise."""

    def done(fut: asyncio.Future[list[str]]) -> None:
        exc = fut.exception()
        if exc is not None:
            log.error("sip_edge: power-dialer escalation failed: %s", exc)

    def run(effect: Escalate) -> None:
        fut = loop.run_in_executor(None, run_escalation, store, effect, time.time())
        fut.add_done_callback(done)

    return run


async def open_endpoint(
    core: EdgeCore,
    sock: socket.socket,
    on_effect: Callable[[Escalate], None],
    requests_sock: socket.socket | None = None,
    shed_after: float = 0.0,
    plane: bool = False,
    pause: float = 0.0,
) -> tuple[EdgeProtocol, list[UdpReader | PlaneReader]]:
    """Serve ``sock`` (and the private ``requests_sock``) with one shell and core; with
    ``plane``, both are read by the C data plane's thread (IPv4 only; else the core reads
    them), which pauses ``pause`` seconds between reads of a busy socket."""
    loop = asyncio.get_running_loop()
    core.wall_offset = time.time() - loop.time()
    proto = EdgeProtocol(core, loop, on_effect, shed_after=shed_after)
    readers: list[UdpReader | PlaneReader] = []
    if plane and sock.family == socket.AF_INET:
        private = requests_sock
        if requests_sock is not None and requests_sock.family != socket.AF_INET:
            private = None
        reader = PlaneReader(proto, sock, private, pause)
        proto.udp, proto.requests_out = reader.batch, reader.requests
        readers.append(reader)
        if private is not None:
            return proto, readers
    else:
        side = UdpReader(proto, sock)
        proto.udp = side.batch
        readers.append(side)
    if requests_sock is not None:
        # Responses to our forwarded requests arrive here and go to the same core.
        side = UdpReader(proto, requests_sock)
        proto.requests_out = side.batch
        readers.append(side)
    return proto, readers
