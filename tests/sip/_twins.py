"""Two cores over the same rules, one with the fast paths and one without (the reference).

The fast paths (``EdgeCore._refuse_fast``, ``EdgeCore._relay_fast``) must be invisible:
fed the same datagrams at the same times, both cores send the same bytes to the same
places and end with the same counters, limits, tables, transaction states and timer.
"""

from __future__ import annotations

import random

from policy.percall.runtime import PolicyRuntime

from .conftest import TRUNK, Harness
from .test_fuzz import TOKENS


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
    tables = (
        dict(core._answered), list(core._late), list(core._retired), set(core._calls),
        core._pending,
    )  # fmt: skip
    holds = core.admission.holds()  # per-site admission (clause 2): BYEs take both paths
    return dict(core.stats), limits, calls, servers, tables, holds, core.get_timer()


def same(fast: Harness, full: Harness, data: bytes, addr: tuple[str, int] = TRUNK) -> list[bytes]:
    """Feed ``data`` to both; assert they agree; return what was sent."""
    fast.core.receive(data, addr, fast.now)
    full.core.receive(data, addr, full.now)
    sent, ref = fast.core.datagrams_to_send(), full.core.datagrams_to_send()
    assert sent == ref, data
    assert state(fast) == state(full), data
    return [d for d, _ in sent]


def mutate(data: bytes, rnd: random.Random) -> bytes:
    """``data`` with one to three random edits: a byte changed, a SIP token, printable
    bytes inserted, or up to 30 bytes cut (for messages close to the plain shapes the
    fast paths take, where ``test_fuzz.mutated`` strays further)."""
    out = bytearray(data)
    for _ in range(rnd.randint(1, 3)):
        pos = rnd.randint(0, len(out))
        op = rnd.randint(0, 3)
        if op == 0 and out:
            out[min(pos, len(out) - 1)] = rnd.randint(0, 255)
        elif op == 1:
            out[pos:pos] = rnd.choice(TOKENS)
        elif op == 2:
            del out[pos : pos + rnd.randint(1, 30)]
        else:
            out[pos:pos] = bytes(rnd.randint(32, 126) for _ in range(rnd.randint(1, 8)))
    return bytes(out)
