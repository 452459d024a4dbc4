"""The data plane's own thread (sip_edge/fast/loop.c ``run``): both sockets read, and the
read moderation that batches a busy worker's datagrams.

The moderation's decision is a function of the times and counts passed in
(``pace_trace``), so it is tested without a clock; the thread is tested on real sockets
for what it reads and hands to Python, never for how long anything takes.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator

import pytest

from sip_edge.fast._plane import CLimits, Plane, pace_trace


@pytest.fixture
def sockets() -> Iterator[tuple[socket.socket, socket.socket, socket.socket]]:
    """The shared port, the private port, and a peer sending to both (127.0.0.1)."""
    made = []
    for _ in range(3):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        s.setblocking(False)
        made.append(s)
    yield made[0], made[1], made[2]
    for s in made:
        s.close()


def _declined(plane: Plane, wake: int, want: int) -> list[tuple[bytes, tuple[str, int]]]:
    """What the thread queued for Python, taken on each wake-up until ``want`` arrived
    (or 10 s passed: a bound for a broken thread, not a timing under test)."""
    got: list[tuple[bytes, tuple[str, int]]] = []
    deadline = time.monotonic() + 10
    while len(got) < want and time.monotonic() < deadline:
        readable, _, _ = select.select([wake], [], [], 0.5)
        if readable:
            got += plane.take_declined()
    return got


@pytest.mark.parametrize("pause", [0.0, 0.002])
def test_the_thread_reads_the_private_port_too(
    sockets: tuple[socket.socket, socket.socket, socket.socket], pause: float
) -> None:
    """Datagrams to either socket reach Python through one queue and one wake-up fd,
    with their sources (without rules the plane declines everything)."""
    shared, private, peer = sockets
    plane = Plane(shared.fileno(), CLimits(10, 10, 1.0))
    wake = plane.start(private.fileno(), pause)
    try:
        sent = []
        for i in range(20):
            dest = shared if i % 2 else private
            data = f"OPTIONS sip:x SIP/2.0\r\nX-N: {i}\r\n\r\n".encode()
            peer.sendto(data, dest.getsockname())
            sent.append(data)
        got = _declined(plane, wake, len(sent))
    finally:
        plane.stop()
    assert sorted(d for d, _ in got) == sorted(sent)
    assert {src for _, src in got} == {peer.getsockname()}
    assert plane.totals() == (20, 0, 20)


def test_a_stopped_plane_leaves_both_sockets_to_their_owner(
    sockets: tuple[socket.socket, socket.socket, socket.socket],
) -> None:
    shared, private, peer = sockets
    plane = Plane(shared.fileno(), CLimits(10, 10, 1.0))
    plane.start(private.fileno(), 0.0005)
    plane.stop()
    peer.sendto(b"after", private.getsockname())
    select.select([private], [], [], 5)
    assert private.recv(100) == b"after"  # still non-blocking and unread by the plane
    assert not shared.getblocking() and not private.getblocking()


@pytest.mark.parametrize("pause", [-0.001, 0.2, float("nan")])
def test_a_pause_out_of_range_is_refused(
    sockets: tuple[socket.socket, socket.socket, socket.socket], pause: float
) -> None:
    plane = Plane(sockets[0].fileno(), CLimits(10, 10, 1.0))
    with pytest.raises(ValueError, match=r"pause: expected 0 to 0\.1 seconds"):
        plane.start(-1, pause)


def _steady(per_ms: int, ms: int, start: float = 0.0) -> list[tuple[float, int, bool]]:
    """A read every millisecond finding ``per_ms`` datagrams."""
    return [(start + (i + 1) / 1000, per_ms, False) for i in range(ms)]


def test_a_slow_stream_is_read_as_it_comes() -> None:
    # 2,000 datagrams/s: a pause of at most 0.5 ms would gather one, not the four it must.
    assert not any(pace_trace(0.0005, 0.0, _steady(2, 300)))


def test_a_fast_stream_pauses_once_a_window_measured_it() -> None:
    # 10,000 datagrams/s: five per 0.5 ms pause. The first 50 ms window measures it.
    decisions = pace_trace(0.0005, 0.0, _steady(10, 300))
    assert not any(decisions[:49])
    assert all(decisions[49:])


def test_it_stops_pausing_when_the_stream_slows_or_stops() -> None:
    fast = _steady(10, 100)
    slow = _steady(1, 200, start=0.1)
    decisions = pace_trace(0.0005, 0.0, fast + slow)
    assert decisions[99]  # still fast
    assert not any(decisions[150:])  # the first whole slow window ended it
    # After a silence, the first datagram's window (mostly silence) is slow.
    assert pace_trace(0.0005, 0.0, [*_steady(10, 100), (5.0, 1, False)])[-1] == 0.0


@pytest.mark.parametrize(
    ("per_ms", "longest", "pause"),
    [
        (20, 0.002, 0.0004),  # 20,000/s: eight arrive in 0.4 ms, well within 2 ms
        (10, 0.002, 0.0008),
        (4, 0.002, 0.002),  # 4,000/s: eight take the whole longest pause
        (2, 0.002, 0.002),  # 2,000/s: four in the longest pause, enough to pause at all
        (10, 0.0005, 0.0005),
    ],
)
def test_a_pause_lasts_until_eight_more_came_at_most_the_longest(
    per_ms: int, longest: float, pause: float
) -> None:
    assert pace_trace(longest, 0.0, _steady(per_ms, 100))[-1] == pytest.approx(pause)


def test_a_full_batch_or_no_pause_never_pauses() -> None:
    reads = [(t, n, True) for t, n, _ in _steady(20, 200)]
    assert not any(pace_trace(0.0005, 0.0, reads))  # behind: read again at once
    assert not any(pace_trace(0.0, 0.0, _steady(20, 200)))  # moderation off
    assert not any(pace_trace(0.0005, 0.0, [(t, 0, False) for t, _, _ in _steady(1, 200)]))
