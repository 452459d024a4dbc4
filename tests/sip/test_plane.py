"""The C data plane (sip_edge/fast/, plane.h) against the Python core, its reference.

Twins: one core as shipped (Python only) and one with the plane in front of it, as the
UDP shell runs them, get the same datagrams at the same times. They must send the same
bytes to the same places and end with the same counters, power-dialer counts, refusals
remembered and decision-log lines. The plane must also really answer the plain refusal
(else the comparisons would hold trivially), and decline everything it is not sure of.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy import DecisionEventV1, DecisionRecorder
from policy.percall.runtime import PolicyRuntime
from sip_edge.core.limits import Limits
from sip_edge.fast._plane import CLimits
from sip_edge.fast.bridge import PlaneBridge, new_plane
from sip_edge.wire.message import parse_message

from .conftest import OTHER_TRUNK, TRUNK, Harness, acme, fixture, invite, request_from
from .test_refuse_fast import OTHERS, REFUSED, SHAPES, _mutated_refusals

Addr = tuple[str, int]

_decode = msgspec.json.Decoder(DecisionEventV1).decode


class ListLog:
    """A decision log that keeps its events in a list."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    def record(self, event: Any) -> None:
        self.events.append(event)

    def record_lines(self, lines: bytes) -> None:
        # What the C plane wrote, read back as the log's readers read it.
        self.events += [_decode(line) for line in lines.splitlines()]

    def close(self) -> None:
        pass


def _recorded(edge: Harness) -> ListLog:
    log = ListLog()
    edge.core.decisions = DecisionRecorder("edge1", 0, log, 4)  # type: ignore[arg-type]
    return log


class Twins:
    """(Python core alone, Python core behind the C plane), fed alike."""

    def __init__(self, runtime: PolicyRuntime, **kw: object) -> None:
        self.ref, self.edge = Harness(runtime, **kw), Harness(runtime, **kw)
        self.ref_log, self.edge_log = _recorded(self.ref), _recorded(self.edge)
        # fd -1: the plane never reads a socket here; handle() and take() stand in.
        self.bridge: PlaneBridge = new_plane(self.edge.core, -1, 64, 65535)
        self.handled = 0

    def each(self, do: Callable[[Harness], object]) -> None:
        do(self.ref)
        do(self.edge)

    def set_now(self, now: float) -> None:
        self.ref.now = self.edge.now = now

    def send(
        self, data: bytes, addr: Addr = TRUNK, compare: bool = True, adopt: bool = True
    ) -> list[bytes]:
        """Feed ``data`` to both; assert they agree (``compare``: their states too, which
        brings the core up to date with what the plane relayed); return what was sent.
        ``adopt``: the core takes the calls the plane handed back right after it (as the
        shell does on its next wake-up); False leaves them until the core's next turn."""
        self.ref.core.receive(data, addr, self.ref.now)
        ref = self.ref.core.datagrams_to_send()
        bridge = self.bridge
        bridge.sync()
        if bridge.plane.handle(data, addr, self.edge.now):
            self.handled += 1
            got = bridge.plane.take()
            if adopt:
                bridge.adopt()
        else:
            if adopt:
                bridge.adopt()
            self.edge.core.receive(data, addr, self.edge.now)
            got = self.edge.core.datagrams_to_send()
        bridge.settle()
        assert got == ref, data
        if compare:
            assert self.state(self.edge) == self.state(self.ref), data
        return [d for d, _ in got]

    def state(self, edge: Harness) -> tuple[object, ...]:
        core = edge.core
        core.sync_owned()  # the answers the plane relayed, in the transactions
        if isinstance(core.limits, CLimits):
            limits = core.limits.live()
        else:
            limits = [
                (k, a.attempts, a.rejected, a.concurrent, list(a.stamps))
                for k, a in core.limits._accounts.items()
            ]
        answered = len(core._answered)
        if edge is self.edge:
            answered += self.bridge.plane.answered
        log = self.edge_log if edge is self.edge else self.ref_log
        stats = {k: v for k, v in core.stats.items() if v and not k.startswith("plane_")}
        calls = (len(core._calls), len(core._clients), len(core._late), core.admission.holds())
        clients = {
            b: (c.client.state, c.client.provisional, c.client.timers, c.server.state,
                c.server.last, c.server.timers, c.done)
            for b, c in core._clients.items()
        }  # fmt: skip
        servers = {k: (t.state, t.last, t.timers) for k, t in core._server.items()}
        late = {b: (until, m.serialize(), a) for b, (until, m, a) in core._late.items()}
        tables = (late, core.get_timer())
        return (
            stats, limits, answered, set(core._server), core._pending, calls, log.events,
            clients, servers, tables,
        )  # fmt: skip


def _ack(data: bytes, answer: bytes) -> bytes:
    req, resp = parse_message(data), parse_message(answer)
    return request_from(req, "ACK").replace(
        f"To: {req.get('to')}".encode(), f"To: {resp.get('to')}".encode()
    )


@pytest.mark.parametrize("to", REFUSED + OTHERS)
def test_an_invite_its_retransmission_cancel_and_ack(runtime: PolicyRuntime, to: str) -> None:
    t = Twins(runtime)
    data = invite(to=to)
    (first, *_) = t.send(data)
    t.send(data)  # retransmitted
    t.send(request_from(parse_message(data), "CANCEL"))
    t.send(_ack(data, first))
    if to in REFUSED:
        # The INVITE, its retransmission and its ACK: all three answered in C.
        assert t.handled == 3
        assert t.edge.core.stats["ack_absorbed"] == 1
    else:
        assert t.handled == 0


def test_the_plain_refusal_is_answered_in_c_with_its_decision_id(runtime: PolicyRuntime) -> None:
    t = Twins(runtime)
    (answer,) = t.send(invite(to="09001234567"))
    assert answer.startswith(b"SIP/2.0 403 ")
    assert b"\r\nCallpolicy-Decision: edge1-0-1\r\n" in answer
    assert t.handled == 1
    (event,) = t.edge_log.events
    assert (event.id, event.verdict, event.account) == ("edge1-0-1", "block", "acme")
    assert (event.number, event.dial) == ("49900123XXXX", "0900123XXXX")
    received, handled, declined = t.bridge.plane.totals()
    assert (received, handled, declined) == (1, 1, 0)


def test_timer_h_forgets_a_refusal_and_it_is_decided_again(runtime: PolicyRuntime) -> None:
    t = Twins(runtime)
    data = invite(to="0137123456")
    t.send(data)
    t.set_now(t.ref.now + 64 * 0.5 + 1)
    t.send(data)  # past Timer H: a new attempt, a new answer (new tag, new decision id)
    t.send(invite(to="0137123456", branch="z9hG4bK-later"))  # expires the old entries
    assert t.handled == 3


@pytest.mark.parametrize("variant", SHAPES)
def test_shapes_of_a_refused_invite(
    runtime: PolicyRuntime, variant: Callable[[bytes], bytes]
) -> None:
    t = Twins(runtime)
    data = variant(invite(to="09001234567"))
    sent = t.send(data)
    if sent and sent[0].startswith(b"SIP/2.0 403"):
        t.send(_ack(data, sent[0]))


def test_power_dialer_limits_and_suspension(runtime: PolicyRuntime) -> None:
    t = Twins(runtime)
    t.each(lambda e: e.core.limits.configure(3, 2, 10.0))
    for i in range(8):  # over the attempt rate: power_dialer refusals, in C and in Python
        t.send(invite(to="09001234567" if i % 2 else "+4930555000"))
    t.set_now(t.ref.now + 11)

    def window(e: Harness) -> None:
        e.core.handle_timer(e.now)
        e.core.datagrams_to_send()
        e.core.effects()
        e.core.set_account(acme(dialer_flag="suspend"))

    t.each(window)
    t.send(invite(to="09001234567"))
    t.each(lambda e: e.core.set_account(acme(dialer_flag="throttle")))
    for _ in range(3):
        t.send(invite(to="09001234567"))
    assert t.edge.core.stats["refused_power_dialer"] >= 3


def test_unknown_account_overload_and_a_changed_account(runtime: PolicyRuntime) -> None:
    t = Twins(runtime, max_in_flight=1)
    t.send(invite(to="09001234567"), OTHER_TRUNK)  # no such account: the core's
    t.send(invite())  # one call in flight: the limit
    t.send(invite(to="09001234567"))
    t.each(lambda e: e.core.drop_account("acme"))
    t.send(invite(to="09001234567"))
    t.each(lambda e: e.core.set_account(acme(version=2, lifted=("premium_rate",))))
    t.send(invite(to="09001234567"))  # unblocked now: forwarded by the core


def test_fixtures_dialling_refused_numbers(runtime: PolicyRuntime) -> None:
    t = Twins(runtime)
    for name in ("invite_basic", "invite_compact", "invite_multi_via", "invite_folded",
                 "invite_lf_only", "invite_bad_cseq", "invite_cseq_mismatch",
                 "invite_missing_call_id", "invite_truncated", "invite_g729_only"):  # fmt: skip
        data = fixture(name).replace(b"+4930555000", b"09001234567")
        sent = t.send(data)
        if sent and sent[0].startswith(b"SIP/2.0 4") and b"cause=21" in sent[0]:
            t.send(_ack(data, sent[0]))


def test_a_datagram_from_no_peer_is_the_cores(runtime: PolicyRuntime) -> None:
    t = Twins(runtime)
    data = invite(to="09001234567")
    (answer,) = t.send(data)
    t.send(_ack(data, answer), ("192.0.2.9", 5060))  # the ACK from a stranger: dropped
    assert t.edge.core.stats["dropped_unknown_peer"] == 1


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(batch=st.lists(_mutated_refusals(), min_size=1, max_size=3))
def test_mutated_refusals_agree(runtime: PolicyRuntime, batch: list[bytes]) -> None:
    t = Twins(runtime)
    for data in batch:
        sent = t.send(data)
        if sent and sent[0].startswith(b"SIP/2.0 4"):
            try:
                ack = _ack(data, sent[0])
            except Exception:  # noqa: BLE001 - a mutated request may not yield an ACK
                continue
            t.send(ack)


# --- the counters in C against sip_edge/core/limits.py -----------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    ops=st.lists(
        st.tuples(
            st.sampled_from(["admit", "reject", "started", "ended", "close", "configure"]),
            st.sampled_from(["a", "b", "c", "d"]),
            st.sampled_from(["none", "warn", "throttle"]),
            st.floats(0, 3),
        ),
        max_size=80,
    )
)
def test_c_limits_count_as_the_reference(ops: list[tuple[str, str, str, float]]) -> None:
    ref, c = Limits(3, 2, 5.0, max_accounts=3), CLimits(3, 2, 5.0, 3)
    now = 0.0
    for op, account, flag, step in ops:
        now += step
        if op == "admit":
            assert c.admit(account, flag, now) == ref.admit(account, flag, now)  # type: ignore[arg-type]
        elif op == "reject":
            c.reject(account, now)
            ref.reject(account, now)
        elif op == "started":
            c.started(account)
            ref.started(account)
        elif op == "ended":
            c.ended(account)
            ref.ended(account)
        elif op == "close":
            assert c.close_window(now) == ref.close_window(now)
        else:
            rate = 1 + int(step)
            c.configure(rate, rate, 5.0)
            ref.configure(rate, rate, 5.0)
        assert c.in_progress(account) == ref.in_progress(account)
        assert c.window_end == ref.window_end
        live = [
            (k, a.attempts, a.rejected, a.concurrent, list(a.stamps))
            for k, a in ref._accounts.items()
        ]
        assert c.live() == live
