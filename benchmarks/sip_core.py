"""The SIP edge's sans-IO core in-process: CPU per message, no sockets, no event loop.

    python benchmarks/sip_core.py [--calls N] [--repeat R]

Feeds ``EdgeCore.receive`` the messages of a call as sipp sends them (the shipped rules,
the test account of ``tests/sip/conftest.py``), on a virtual clock and with the workers'
GC settings, and prints the median over R rounds of the microseconds per message: a
blocked INVITE (answered 403), the ACK of that 403, and each message of an allowed call
(INVITE forwarded, 180, 200, ACK, BYE and its 200). What ``benchmarks/sip.py`` measures
end to end minus the event loop and the system calls; the parse alone is shown for
scale. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from policy import PolicyRuntime  # noqa: E402
from sip_edge.transport import tune_gc  # noqa: E402
from sip_edge.wire.message import parse_message, parse_message_py  # noqa: E402
from tests.sip.conftest import (  # noqa: E402
    CARRIER_DE,
    TRUNK,
    Harness,
    invite,
    request_from,
    response_to,
)


def _blocked(edge: Harness, n: int) -> tuple[list[bytes], list[bytes]]:
    invites, acks = [], []
    for i in range(n):
        data = invite(to="09001234567", branch=f"z9hG4bK-b{i}", call_id=f"b{i}@bench")
        invites.append(data)
        ack = request_from(parse_message(data), "ACK")
        acks.append(ack.replace(b"@127.0.0.1>\r\n", b"@127.0.0.1>;tag=x\r\n", 1))
    return invites, acks


def _allowed(edge: Harness, n: int) -> dict[str, list[tuple[bytes, tuple[str, int]]]]:
    """Every message of n allowed calls, in call order, built against a warm-up core."""
    steps: dict[str, list[tuple[bytes, tuple[str, int]]]] = {
        k: [] for k in ("INVITE", "180", "200", "ACK", "BYE", "200 (BYE)")
    }
    core = edge.core
    rr = "Record-Route: <sip:127.0.0.1:5060;lr>\r\nContact:"
    for i in range(n):
        data = invite(branch=f"z9hG4bK-a{i}", call_id=f"a{i}@bench")
        core.receive(data, TRUNK, edge.now)
        fwd = parse_message(core.datagrams_to_send()[1][0])
        ringing = response_to(fwd, 180, "Ringing").replace(b"Contact:", rr.encode(), 1)
        ok = response_to(fwd, 200, "OK").replace(b"Contact:", rr.encode(), 1)
        core.receive(ok, CARRIER_DE, edge.now)
        answered = parse_message(core.datagrams_to_send()[0][0])
        dialog = (
            "{m} sip:carrier@127.0.0.1:5070 SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.2:5061;branch=z9hG4bK-{{m}}{i};rport\r\n"
            f"Route: <sip:127.0.0.1:5060;lr>\r\nFrom: {answered.get('from')}\r\n"
            f"To: {answered.get('to')}\r\nCall-ID: {answered.get('call-id')}\r\n"
            "CSeq: {n} {m}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        )
        bye = dialog.format(m="BYE", n=2).encode()
        core.receive(bye, TRUNK, edge.now)
        fwd_bye = parse_message(core.datagrams_to_send()[0][0])
        steps["INVITE"].append((data, TRUNK))
        steps["180"].append((ringing, CARRIER_DE))
        steps["200"].append((ok, CARRIER_DE))
        steps["ACK"].append((dialog.format(m="ACK", n=1).encode(), TRUNK))
        steps["BYE"].append((bye, TRUNK))
        steps["200 (BYE)"].append((response_to(fwd_bye, 200, "OK"), CARRIER_DE))
    return steps


def _per_message(edge: Harness, batch: list[tuple[bytes, tuple[str, int]]]) -> float:
    core = edge.core
    t0 = time.perf_counter()
    for data, addr in batch:
        core.receive(data, addr, edge.now)
        core.datagrams_to_send()
        core.get_timer()
    return 1e6 * (time.perf_counter() - t0) / len(batch)


def _check(edge: Harness, calls: int) -> None:
    """The replay took the intended paths (else the figures would measure something else)."""
    stats = edge.core.stats
    want = {"forwarded": calls, "in_dialog_ack": calls, "in_dialog_bye": calls}
    got = {k: stats[k] for k in want}
    if got != want or edge.core._pending:
        raise SystemExit(f"replay went astray: {dict(stats)}")


def measure(calls: int, repeat: int) -> list[tuple[str, float]]:
    """Median µs per message of each kind over ``repeat`` rounds of ``calls`` calls."""
    runtime = PolicyRuntime(str(ROOT / "rules"), 0.0)
    tune_gc()  # as the edge's workers run
    results: dict[str, list[float]] = {}
    for _ in range(repeat):
        # The branch (and so the forwarded INVITE) depends on the core's counters:
        # every round builds its messages against a fresh core, then replays them on one.
        edge = Harness(runtime)
        edge.core.limits.configure(10**9, 10**9, 10.0)
        invites, acks = _blocked(edge, calls)
        for name, parse in (
            ("parse INVITE (reference, Python)", parse_message_py),
            ("parse INVITE (C scanner)", parse_message),
        ):
            t0 = time.perf_counter()
            for data in invites:
                parse(data)
            results.setdefault(name, []).append(1e6 * (time.perf_counter() - t0) / calls)
        results.setdefault("blocked INVITE -> 403", []).append(
            _per_message(edge, [(d, TRUNK) for d in invites])
        )
        results.setdefault("ACK of the 403", []).append(
            _per_message(edge, [(d, TRUNK) for d in acks])
        )
        warm = Harness(runtime)
        warm.core.limits.configure(10**9, 10**9, 10.0)
        steps = _allowed(warm, calls)
        edge = Harness(runtime)
        edge.core.limits.configure(10**9, 10**9, 10.0)
        for name, batch in steps.items():
            results.setdefault(f"allowed: {name}", []).append(_per_message(edge, batch))
        _check(edge, calls)
    return [(name, statistics.median(v)) for name, v in results.items()]


def main(argv: list[str] | None = None) -> int:
    """Print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=5000)
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)
    rows = measure(args.calls, args.repeat)
    print(f"| message ({args.calls} calls, median of {args.repeat}) | µs per message |")
    print("|---|---:|")
    for name, us in rows:
        print(f"| {name} | {us:.1f} |")
    blocked = sum(us for name, us in rows if name in ("blocked INVITE -> 403", "ACK of the 403"))
    allowed = sum(us for name, us in rows if name.startswith("allowed: "))
    print(f"| **blocked call** (INVITE + ACK) | **{blocked:.1f}** |")
    print(f"| **allowed call** (6 messages) | **{allowed:.1f}** |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
