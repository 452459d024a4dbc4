"""Two cores over the same rules, one with the fast paths and one without (the reference).

The fast paths (``EdgeCore._refuse_fast``, ``EdgeCore._relay_fast``) must be invisible:
fed the same datagrams at the same times, both cores send the same bytes to the same
places and end with the same counters, limits, tables, transaction states and timer.
"""

from __future__ import annotations

from policy.runtime import PolicyRuntime

from .conftest import TRUNK, Harness


def pair(runtime: PolicyRuntime, **settings: object) -> tuple[Harness, Harness]:
    """(as shipped, with both fast paths switched off)."""
    fast, full = Harness(runtime, **settings), Harness(runtime, **settings)
    full.core._refuse_fast = lambda *args: False  # type: ignore[method-assign]
    full.core._relay_fast = lambda *args: False  # type: ignore[method-assign]
    return fast, full


def state(edge: Harness) -> tuple[object, ...]:
    """Everything a message can change in a core."""
    core = edge.core
    limits = {
        k: (a.attempts, a.rejected, a.concurrent, list(a.stamps))
        for k, a in core.limits._accounts.items()
    }
    calls = {
        b: (c.client.state, c.client.provisional, c.client.cancel_pending, c.done, c.server.state)
        for b, c in core._clients.items()
    }
    servers = {k: (t.state, t.last) for k, t in core._server.items()}
    tables = (dict(core._answered), list(core._late), set(core._calls), core._pending)
    return dict(core.stats), limits, calls, servers, tables, core.get_timer()


def same(fast: Harness, full: Harness, data: bytes, addr: tuple[str, int] = TRUNK) -> list[bytes]:
    """Feed ``data`` to both; assert they agree; return what was sent."""
    fast.core.receive(data, addr, fast.now)
    full.core.receive(data, addr, full.now)
    sent, ref = fast.core.datagrams_to_send(), full.core.datagrams_to_send()
    assert sent == ref, data
    assert state(fast) == state(full), data
    return [d for d, _ in sent]
