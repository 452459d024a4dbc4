"""The shell sheds only once a socket has stayed behind for ``limits.shed_after`` seconds
(sip_edge/transport.py), on a virtual clock: a hold-up shorter than that (a reload, a
collection) is worked off from the socket's buffer without refusing calls."""

from __future__ import annotations

import asyncio

from policy.percall.runtime import PolicyRuntime
from sip_edge import transport

from .conftest import Harness
from .test_udp import _Backlog

PER_WAKE = transport._BATCH * transport._BATCHES_PER_WAKE


def shedding(edge: Harness) -> bool:
    """Whether the core sheds new calls now."""
    return edge.core.shedding


def test_a_short_backlog_is_read_off_without_shedding_a_long_one_sheds(
    runtime: PolicyRuntime,
) -> None:
    edge = Harness(runtime)
    now = [10.0]
    loop = asyncio.new_event_loop()
    try:
        shell = transport.EdgeProtocol(
            edge.core, loop, lambda _: None, clock=lambda: now[0], shed_after=0.2
        )
        sock = _Backlog(3 * PER_WAKE + 5, transport._BATCH)
        shell.readable(sock)  # type: ignore[arg-type]
        assert not shedding(edge)  # behind since 10.0
        now[0] = 10.15
        shell.readable(sock)  # type: ignore[arg-type]
        assert not shedding(edge)  # behind for 0.15 s
        now[0] = 10.25
        shell.readable(sock)  # type: ignore[arg-type]
        assert shedding(edge) and sock.waiting == 5  # behind for 0.25 s
        shell.readable(sock)  # type: ignore[arg-type]
        assert not shedding(edge) and sock.waiting == 0  # drained

        sock.waiting = PER_WAKE + 1  # behind again: the grace starts over
        now[0] = 11.0
        shell.readable(sock)  # type: ignore[arg-type]
        assert not shedding(edge)
        assert edge.core.stats["shedding_started"] == 1
    finally:
        loop.close()


def test_draining_sheds_whatever_the_backlog(runtime: PolicyRuntime) -> None:
    edge = Harness(runtime)
    loop = asyncio.new_event_loop()
    try:
        shell = transport.EdgeProtocol(
            edge.core, loop, lambda _: None, clock=lambda: 0.0, shed_after=5.0
        )
        shell.drain()
        shell.readable(_Backlog(1, transport._BATCH))  # type: ignore[arg-type]
        assert shedding(edge)
    finally:
        loop.close()
