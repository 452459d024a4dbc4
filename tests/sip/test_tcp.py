"""sip_edge/stream.py: SIP over TCP (RFC 3261 18) into the same core as UDP.

Two kinds of test, all over real loopback sockets. ``python -m sip_edge`` as a process
(the set-up of test_sipp.py: trunk 127.0.0.2, test rules and store) checks what a PBX
sees: answers on the connection its request came over, framing by Content-Length, a
connection closed after a framing error, a carrier's UDP answer relayed onto the TCP
connection, two workers sharing the TCP port. The bounds (connection limit, idle
timeout) are checked on an in-process worker shell around a core over the shipped
rules, where ``core.stats`` can be read. Every wait is bounded; no timing is asserted.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import Awaitable, Callable, Iterator

import pytest

from policy.percall.runtime import PolicyRuntime
from sip_edge.stream import bind_tcp, close_streams, open_stream_server
from sip_edge.transport import EdgeProtocol, bind_udp, open_endpoint
from sip_edge.wire.message import Message, StreamFramer, parse_message, parse_via

from .conftest import Harness, fixture, invite, request_from, response_to
from .test_sipp import (
    SIPP,
    START_TIMEOUT,
    Edge,
    _start_edge,
    ereg,
    scenario,
    uac,
)

#: Seconds any one read may block before the test fails.
WAIT = 10.0


def tcp(data: bytes) -> bytes:
    """``data`` as a PBX sends it over TCP: the Via names the transport (RFC 3261 18.1.1)."""
    return data.replace(b"SIP/2.0/UDP ", b"SIP/2.0/TCP ", 1)


def options(branch: str) -> bytes:
    """An OPTIONS from the trunk with its own branch and Call-ID."""
    return tcp(fixture("options")).replace(b"z9hG4bK-opt-1", f"z9hG4bK-{branch}".encode())


class Conn:
    """A PBX's TCP connection to the edge, from ``ip``; reads whole messages."""

    def __init__(self, port: int, ip: str = "127.0.0.2") -> None:
        """Connect from ``ip`` (any port) to the edge on loopback."""
        self.sock = socket.create_connection(("127.0.0.1", port), WAIT, (ip, 0))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # one write, one segment
        self.framer = StreamFramer()
        self.pending: list[bytes] = []

    def send(self, data: bytes) -> None:
        """Write ``data`` (one write, however many messages)."""
        self.sock.sendall(data)

    def recv(self) -> Message:
        """The next whole message from the edge."""
        while not self.pending:
            chunk = self.sock.recv(65536)
            assert chunk, "the edge closed the connection"
            self.pending += self.framer.feed(chunk)
        return parse_message(self.pending.pop(0))

    def final(self) -> Message:
        """The next response above 1xx (a 100 Trying before it is skipped)."""
        while True:
            msg = self.recv()
            if msg.status is None or msg.status >= 200:
                return msg

    def closed_by_peer(self) -> bool:
        """True once the edge closed (FIN or RST); whatever it sent before is skipped."""
        try:
            while self.sock.recv(65536):
                pass
        except ConnectionResetError:
            pass
        return True

    def close(self) -> None:
        """Close our end."""
        self.sock.close()


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    """``python -m sip_edge`` with the shipped defaults (one worker, TCP on)."""
    yield from _start_edge(tmp_path_factory.mktemp("tcp"), workers=1)


@pytest.fixture
def conn(edge: Edge) -> Iterator[Conn]:
    """A fresh connection from the trunk address."""
    c = Conn(edge.port)
    yield c
    c.close()


def test_options_over_tcp_is_answered_on_the_connection(conn: Conn) -> None:
    conn.send(options("one"))
    resp = conn.recv()
    assert resp.status == 200
    assert parse_via(resp.get("via") or "").transport == "TCP"
    assert "z9hG4bK-one" in (resp.get("via") or "")


def test_two_messages_in_one_write(conn: Conn) -> None:
    conn.send(b"\r\n\r\n" + options("a") + options("b"))  # CRLF keep-alive first (RFC 5626)
    vias = [conn.recv().get("via") or "", conn.recv().get("via") or ""]
    assert ["z9hG4bK-a" in vias[0], "z9hG4bK-b" in vias[1]] == [True, True]


def test_one_message_over_several_writes(conn: Conn) -> None:
    data = tcp(invite(to="09001234567"))
    head_end = data.index(b"\r\n\r\n")
    for part in (data[:10], data[10:head_end], data[head_end : head_end + 3], data[head_end + 3 :]):
        conn.send(part)
        # Let each part arrive as its own read (a framer must keep state between reads);
        # nothing depends on how long this takes.
        time.sleep(0.01)
    assert conn.final().status == 403


def test_no_content_length_closes_the_connection(conn: Conn) -> None:
    conn.send(tcp(fixture("invite_no_content_length")))
    assert conn.closed_by_peer()


def test_messages_before_a_framing_error_are_answered(conn: Conn) -> None:
    """A REGISTER and, in the same write, an INVITE the stream cannot frame: the REGISTER
    is answered (405) before the connection closes (RFC 3261 18.3)."""
    register = tcp(fixture("options")).replace(b"OPTIONS", b"REGISTER")
    conn.send(register + tcp(fixture("invite_no_content_length")))
    assert conn.recv().status == 405
    assert conn.closed_by_peer()


def test_a_bad_content_length_is_answered_then_closed(conn: Conn) -> None:
    """RFC 4475 3.1.2.3: a negative Content-Length gets its 400; the next message's start
    is unknown, so the connection closes after it."""
    conn.send(tcp(fixture("options")).replace(b"Content-Length: 0", b"Content-Length: -1"))
    resp = conn.recv()
    assert (resp.status, resp.reason) == (400, "Bad Content-Length")
    assert conn.closed_by_peer()


def test_blocked_premium_rate_invite_gets_403_with_reason(conn: Conn) -> None:
    data = tcp(invite(to="09001234567"))
    conn.send(data)
    resp = conn.final()
    assert (resp.status, resp.reason) == (403, "Forbidden")
    assert (resp.get("reason") or "").startswith('Q.850;cause=21;text="premium_rate (premium-rate')
    req = parse_message(data)
    ack = request_from(req, "ACK").replace(
        f"To: {req.get('to')}".encode(), f"To: {resp.get('to')}".encode()
    )
    conn.send(ack)
    conn.send(options("after-ack"))  # the connection still carries requests
    assert conn.recv().status == 200  # a refusal is never resent (stateless, 8.2.7)


def test_carrier_answer_over_udp_reaches_the_tcp_connection(edge: Edge, conn: Conn) -> None:
    """RFC 3261 18.2.2: the answer goes back on the connection the INVITE came over."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as carrier:
        carrier.bind(("127.0.0.1", edge.carrier_de))
        carrier.settimeout(WAIT)
        conn.send(tcp(invite()))
        assert conn.recv().status == 100
        data, _ = carrier.recvfrom(65536)
        fwd = parse_message(data)
        assert fwd.method == "INVITE"
        via = parse_via(fwd.get("via") or "")
        assert via.transport == "UDP"  # the carrier leg stays UDP
        carrier.sendto(response_to(fwd, 486, "Busy Here"), (via.host, via.port or 5060))
        resp = conn.final()
        assert resp.status == 486
        assert parse_via(resp.get("via") or "").transport == "TCP"


def test_blocked_call_over_tcp_with_sipp(edge: Edge) -> None:
    if SIPP is None:
        pytest.skip("sipp binary not found (Debian package sip-tester; CI installs it)")
    checks = ereg(r'Q\.850;cause=21;text="premium_rate \(premium-rate ', "Reason:")
    xml = scenario(edge, "uac_refused.xml", STATUS="403", CHECKS=checks)
    done = uac(edge, xml, "09001234567", "127.0.0.2", 1, "-t", "t1",
               "-key", "from", "+493012345001", "-key", "codec", "8 101")  # fmt: skip
    assert done.returncode == 0, done.stdout.decode(errors="replace")[-3000:]


def test_two_workers_share_the_tcp_port(tmp_path_factory: pytest.TempPathFactory) -> None:
    """SO_REUSEPORT on the TCP socket too: the second worker binds, every connection is served."""
    for edge2 in _start_edge(tmp_path_factory.mktemp("tcp2"), workers=2):
        log = edge2.dir / "edge.log"
        deadline = time.monotonic() + START_TIMEOUT
        while b"worker 1 listening on udp+tcp" not in log.read_bytes():
            assert time.monotonic() < deadline, f"worker 1 did not start:\n{log.read_text()}"
            time.sleep(0.05)
        for i in range(6):  # new source ports: spread over the workers by the kernel
            c = Conn(edge2.port)
            try:
                c.send(options(f"w{i}"))
                assert c.recv().status == 200
            finally:
                c.close()


def test_tcp_false_listens_on_udp_only(tmp_path_factory: pytest.TempPathFactory) -> None:
    for edge_udp in _start_edge(tmp_path_factory.mktemp("udp"), 1, "tcp = false\n"):
        # The UDP port answers before the worker logs that it listens: wait for the line.
        log = edge_udp.dir / "edge.log"
        deadline = time.monotonic() + START_TIMEOUT
        while b"listening on udp 127.0.0.1" not in log.read_bytes():
            assert time.monotonic() < deadline, f"no listening line:\n{log.read_text()}"
            time.sleep(0.05)
        assert b"udp+tcp" not in log.read_bytes()
        with pytest.raises(ConnectionRefusedError):
            Conn(edge_udp.port).close()


# --- bounds, on an in-process worker shell ----------------------------------------------


Serve = Callable[[EdgeProtocol, int], Awaitable[None]]


def run_worker(
    runtime: PolicyRuntime, max_connections: int, idle_timeout: float, body: Serve
) -> Harness:
    """Run ``body(proto, tcp_port)`` against a worker shell (UDP + TCP) around a fresh core."""
    edge = Harness(runtime)

    async def main() -> None:
        udp = bind_udp("127.0.0.1", 0, reuse_port=False)
        proto, transports = await open_endpoint(edge.core, udp, lambda _: None)
        sock = bind_tcp("127.0.0.1", 0, reuse_port=False)
        port = int(sock.getsockname()[1])
        server = await open_stream_server(proto, sock, max_connections, idle_timeout)
        try:
            await asyncio.wait_for(body(proto, port), 3 * WAIT)
        finally:
            close_streams(server, proto)
            await server.wait_closed()
            proto.close()
            for t in transports:
                t.close()
            await asyncio.sleep(0)

    asyncio.run(main())
    return edge


async def connect(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection from the trunk address."""
    return await asyncio.open_connection("127.0.0.1", port, local_addr=("127.0.0.2", 0))


async def answer(reader: asyncio.StreamReader) -> Message:
    """The next whole message."""
    framer = StreamFramer()
    while True:
        chunk = await reader.read(65536)
        assert chunk, "the edge closed the connection"
        got = framer.feed(chunk)
        if got:
            return parse_message(got[0])


async def is_closed(reader: asyncio.StreamReader) -> bool:
    """True once the edge closed the connection (FIN or RST)."""
    try:
        while await reader.read(65536):
            pass
    except ConnectionResetError:
        pass
    return True


async def hang_up(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionResetError, BrokenPipeError):
        await writer.wait_closed()


def test_connections_beyond_the_limit_are_closed(runtime: PolicyRuntime) -> None:
    async def body(proto: EdgeProtocol, port: int) -> None:
        held = [await connect(port) for _ in range(2)]
        for i, (reader, writer) in enumerate(held):
            writer.write(options(f"held{i}"))
            assert (await answer(reader)).status == 200
        reader, writer = await connect(port)
        assert await is_closed(reader)
        await hang_up(writer)
        # A slot freed by a peer is taken again.
        await hang_up(held[0][1])
        while len(proto.streams) > 1:
            await asyncio.sleep(0.01)
        reader, writer = await connect(port)
        writer.write(options("again"))
        assert (await answer(reader)).status == 200
        for w in (writer, held[1][1]):
            await hang_up(w)

    edge = run_worker(runtime, 2, 300.0, body)
    assert edge.core.stats["tcp_refused"] == 1
    assert edge.core.stats["tcp_accepted"] == 3


def test_idle_connection_is_closed(runtime: PolicyRuntime) -> None:
    async def body(proto: EdgeProtocol, port: int) -> None:
        reader, writer = await connect(port)
        writer.write(options("then-silence"))
        assert (await answer(reader)).status == 200
        assert await is_closed(reader)  # nothing more sent: the idle timeout closes it
        await hang_up(writer)
        while proto.streams:
            await asyncio.sleep(0.01)

    edge = run_worker(runtime, 8, 0.2, body)
    assert edge.core.stats["tcp_idle_closed"] == 1


def test_framing_errors_are_counted_and_close(runtime: PolicyRuntime) -> None:
    bad = [
        tcp(fixture("invite_no_content_length")),
        # int() refuses this many digits (ValueError, not SipParseError): still a close.
        options("huge").replace(b"Content-Length: 0", b"Content-Length: " + b"9" * 5000),
    ]

    async def body(proto: EdgeProtocol, port: int) -> None:
        for data in bad:
            reader, writer = await connect(port)
            writer.write(data)
            assert await is_closed(reader)
            await hang_up(writer)

    edge = run_worker(runtime, 8, 300.0, body)
    assert edge.core.stats["tcp_framing_error"] == 2
    assert edge.core.stats["internal_error"] == 0
