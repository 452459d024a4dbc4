"""The batched UDP socket (sip_edge/_udp.pyx) on real loopback sockets."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Iterator

import pytest

from policy.percall.runtime import PolicyRuntime
from sip_edge._udp import BatchSocket

from .conftest import Harness


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """A bound non-blocking socket under test and a plain peer socket."""
    a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    a.bind(("127.0.0.1", 0))
    a.setblocking(False)
    b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    b.bind(("127.0.0.1", 0))
    b.settimeout(2.0)
    yield a, b
    a.close()
    b.close()


def _recv_all(batch: BatchSocket, want: int) -> list[tuple[bytes, tuple[str, int]]]:
    got: list[tuple[bytes, tuple[str, int]]] = []
    deadline = time.monotonic() + 2.0
    while len(got) < want and time.monotonic() < deadline:
        got += batch.recv()
    return got


def test_nothing_waiting_is_an_empty_batch(pair: tuple[socket.socket, socket.socket]) -> None:
    a, _ = pair
    assert BatchSocket(a.fileno(), socket.AF_INET, 8, 2048).recv() == []


def test_recv_reads_many_datagrams_per_call_with_their_sources(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    batch = BatchSocket(a.fileno(), socket.AF_INET, 8, 2048)
    for i in range(20):
        b.sendto(b"m%d" % i, a.getsockname())
    got = _recv_all(batch, 20)
    assert [d for d, _ in got] == [b"m%d" % i for i in range(20)]
    assert {src for _, src in got} == {b.getsockname()}
    assert batch.recv() == []  # drained
    assert batch.received == 20


def test_a_datagram_longer_than_the_buffer_arrives_cut_and_counted(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    batch = BatchSocket(a.fileno(), socket.AF_INET, 4, 100)
    b.sendto(b"x" * 500, a.getsockname())
    [(data, _)] = _recv_all(batch, 1)
    assert data == b"x" * 100
    assert batch.truncated == 1


def test_send_delivers_every_datagram_to_its_destination(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    c.bind(("127.0.0.1", 0))
    c.settimeout(2.0)
    batch = BatchSocket(a.fileno(), socket.AF_INET, 4, 2048)
    items = [(b"to-b-%d" % i, b.getsockname()) for i in range(6)]
    items += [(b"to-c-%d" % i, c.getsockname()) for i in range(5)]  # more than one batch
    assert batch.send(items) == 0
    assert [b.recvfrom(100)[0] for _ in range(6)] == [d for d, _ in items[:6]]
    assert [c.recvfrom(100)[0] for _ in range(5)] == [d for d, _ in items[6:]]
    assert batch.sent == 11
    c.close()


def test_a_destination_that_is_no_ip_literal_is_counted_and_skipped(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    a, b = pair
    batch = BatchSocket(a.fileno(), socket.AF_INET, 4, 2048)
    items = [(b"1", ("carrier.example", 5060)), (b"2", b.getsockname()), (b"3", ("::1", 5060))]
    assert batch.send(items) == 2
    assert batch.send_errors == 2
    assert b.recvfrom(10)[0] == b"2"


def test_ipv6_round_trip() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    a = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    b = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        a.bind(("::1", 0))
        b.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    a.setblocking(False)
    b.settimeout(2.0)
    batch = BatchSocket(a.fileno(), socket.AF_INET6, 4, 2048)
    b.sendto(b"hello", a.getsockname()[:2])
    [(data, src)] = _recv_all(batch, 1)
    assert data == b"hello" and src == ("::1", b.getsockname()[1])
    assert batch.send([(b"back", src)]) == 0
    assert b.recvfrom(10)[0] == b"back"
    a.close()
    b.close()


def test_bad_arguments_are_refused(pair: tuple[socket.socket, socket.socket]) -> None:
    a, _ = pair
    with pytest.raises(ValueError, match="family"):
        BatchSocket(a.fileno(), socket.AF_UNIX, 4, 2048)
    with pytest.raises(ValueError, match="positive"):
        BatchSocket(a.fileno(), socket.AF_INET, 0, 2048)


class _Backlog:
    """A socket stand-in holding ``waiting`` datagrams, read ``batch`` at a time."""

    def __init__(self, waiting: int, batch: int) -> None:
        self.waiting, self.batch = waiting, batch

    def recv(self) -> list[tuple[bytes, tuple[str, int]]]:
        n = min(self.waiting, self.batch)
        self.waiting -= n
        return [(b"\r\n\r\n", ("127.0.0.2", 5061))] * n


def test_the_shell_sheds_while_a_socket_stays_behind(runtime: PolicyRuntime) -> None:
    """More waiting than one wake-up reads -> the core sheds; drained -> it stops."""
    from sip_edge import transport

    edge = Harness(runtime)
    loop = asyncio.new_event_loop()
    try:
        shell = transport.EdgeProtocol(edge.core, loop, lambda _: None, clock=lambda: 0.0)
        per_wake = transport._BATCH * transport._BATCHES_PER_WAKE
        sock = _Backlog(per_wake + 10, transport._BATCH)
        shell.readable(sock)  # type: ignore[arg-type]
        assert edge.core.shedding and sock.waiting == 10
        shell.readable(sock)  # type: ignore[arg-type]
        assert not edge.core.shedding and sock.waiting == 0
        assert edge.core.stats["keepalive"] == per_wake + 10
    finally:
        loop.close()
