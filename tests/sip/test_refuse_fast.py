"""The refusal fast path (EdgeCore._refuse_fast) against the full path, its reference.

Two cores over the same rules get the same datagrams at the same times: one as shipped,
one with the fast path switched off. Whatever they are sent, they must send the same
bytes to the same places and end with the same counters, power-dialer state and tables.
The fast path must also really be taken for the plain refused INVITE and its ACK (else
these checks would compare the full path with itself).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy.percall.runtime import PolicyRuntime
from sip_edge.wire.message import parse_message

from ._twins import mutate, pair, same
from .conftest import OTHER_TRUNK, Harness, acme, fixture, invite, request_from

#: Dial strings the shipped rules refuse (premium rate, 0137, directory, invalid,
#: incomplete) and some they let through or route as emergency calls.
REFUSED = ["09001234567", "0137123456", "11833", "0190", "+49", "0012", "0180512345"]
OTHERS = ["+4930555000", "112", "110", "030123456", "0049891234567"]


def _ack(data: bytes, answer: bytes) -> bytes:
    req, resp = parse_message(data), parse_message(answer)
    return request_from(req, "ACK").replace(
        f"To: {req.get('to')}".encode(), f"To: {resp.get('to')}".encode()
    )


@pytest.mark.parametrize("to", REFUSED + OTHERS)
def test_an_invite_its_retransmission_cancel_and_ack(runtime: PolicyRuntime, to: str) -> None:
    fast, full = pair(runtime)
    data = invite(to=to)
    (first, *_) = same(fast, full, data)
    same(fast, full, data)  # retransmitted
    same(fast, full, request_from(parse_message(data), "CANCEL"))
    same(fast, full, _ack(data, first))
    if to in REFUSED:
        assert fast.core.stats["ack_absorbed"] == 1


def test_the_plain_refusal_takes_the_fast_path(runtime: PolicyRuntime) -> None:
    """Else the comparisons here would hold trivially (the relay absorbs the ACK)."""
    edge = Harness(runtime)
    taken: list[tuple[str, bool]] = []
    for name in ("_refuse_fast", "_relay_fast"):
        real = getattr(edge.core, name)

        def spy(*args: object, _real: Any = real, _name: str = name) -> bool:
            taken.append((_name, _real(*args)))
            return taken[-1][1]

        setattr(edge.core, name, spy)
    data = invite(to="09001234567")
    ((answer, _),) = edge.send(data)
    assert answer.status == 403 and (answer.get("reason") or "").startswith("Q.850;cause=21")
    edge.send(_ack(data, answer.serialize()))
    edge.send(invite(to="+4930555000"))  # allowed: declined, forwarded by the full path
    assert taken == [("_refuse_fast", True), ("_relay_fast", True), ("_refuse_fast", False)]
    assert edge.core.stats["ack_absorbed"] == 1


#: Shapes of a refused INVITE a fast path must take, or leave to the full path, alike
#: (also run through the C data plane, tests/sip/test_plane.py).
SHAPES: list[Callable[[bytes], bytes]] = [
    lambda d: d.replace(b"Via: SIP/2.0/UDP 127.0.0.2:5061", b"v: SIP/2.0/UDP 127.0.0.2:5061"),
    lambda d: d.replace(b"\r\nVia: ", b"\r\nVia: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK-up, ", 1),
    lambda d: d.replace(b";rport", b""),
    lambda d: d.replace(b";rport", b";rport=5061;received=127.0.0.2"),
    lambda d: d.replace(b"127.0.0.2:5061;branch", b"pbx.example:5061;branch"),
    lambda d: d.replace(b"SIP/2.0/UDP", b"SIP/2.0/TCP"),
    lambda d: d.replace(b"Max-Forwards: 70", b"Max-Forwards: 0"),
    lambda d: d.replace(b"Max-Forwards: 70\r\n", b""),
    lambda d: d.replace(b"To: <sip:09001234567@127.0.0.1>", b"To: <sip:x@y>;tag=t1"),
    lambda d: d.replace(
        b"\r\nVia: ", b"\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKcpe1, ", 1
    ),
    lambda d: d.replace(b"INVITE sip:09001234567@", b"INVITE tel:09001234567;x=1@", 1),
    lambda d: d.replace(b"CSeq: 1 INVITE", b"CSeq: 1 INVITE\r\nCSeq: 2 INVITE"),
    lambda d: d.replace(b"From: ", b"From: <sip:a@b>;tag=2\r\nFrom: "),
    lambda d: d.replace(b"Call-ID: ", b"i: "),
    lambda d: d.replace(b"\r\nTo: ", b"\r\nt: "),
    lambda d: d.replace(b"Content-Length: ", b"Content-Length:  "),
    # What the full path answers otherwise since RFC 4475 (issue 11):
    lambda d: d.replace(b"Max-Forwards: 70", b"Max-Forwards: 0070"),
    lambda d: d.replace(b"Max-Forwards: 70", b"Max-Forwards: 70\r\nMax-Forwards: 70"),
    lambda d: d.replace(b"\r\nTo: ", b"\r\nTo: <sip:x@y>\r\nTo: "),
    lambda d: d.replace(b"Call-ID: ", b"Call-ID: twice\r\nCall-ID: "),
    lambda d: d.replace(b";rport", b";;rport"),
    lambda d: d.replace(b";rport", b";rport;"),
    lambda d: d.replace(b"\r\nVia: ", b"\r\nVia: ;, ", 1),
    lambda d: d.replace(b'From: "Alice" ', b'From: "Alice '),
    lambda d: d.replace(b'From: "Alice" ', b"From: Alice, A. "),
    lambda d: d.replace(
        b"INVITE sip:09001234567@127.0.0.1:5060", b"INVITE <sip:09001234567@127.0.0.1:5060>"
    ),
    lambda d: d.replace(b"@127.0.0.1:5060 SIP", b"@127.0.0.1:5060?Route=x SIP", 1),
    lambda d: d.replace(b" SIP/2.0\r\n", b" SIP/7.0\r\n", 1),
    lambda d: d.replace(b" SIP/2.0\r\n", b" SIP/2.0 \r\n", 1),
    lambda d: d.replace(b"Max-Forwards: 70", b"Require: 100rel\r\nMax-Forwards: 70"),
    lambda d: d.replace(b"Max-Forwards: 70", b"Require: nothing\r\nMax-Forwards: 70"),
    lambda d: d.replace(b"Max-Forwards: 70", b"Proxy-Require: x\r\nMax-Forwards: 70"),
    lambda d: d.replace(b"Call-ID: ", b"X-Call-ID: "),
]


@pytest.mark.parametrize("variant", SHAPES)
def test_shapes_of_a_refused_invite(
    runtime: PolicyRuntime, variant: Callable[[bytes], bytes]
) -> None:
    fast, full = pair(runtime)
    data = variant(invite(to="09001234567"))
    sent = same(fast, full, data)
    if sent and sent[0].startswith(b"SIP/2.0 403"):
        same(fast, full, _ack(data, sent[0]))


def test_power_dialer_limits_and_suspension(runtime: PolicyRuntime) -> None:
    fast, full = pair(runtime)
    for edge in (fast, full):
        edge.core.limits.configure(3, 2, 10.0)
    for i in range(8):  # over the attempt rate: power_dialer refusals, counted alike
        same(fast, full, invite(to="09001234567" if i % 2 else "+4930555000"))
    fast.now = full.now = fast.now + 11
    for edge in (fast, full):
        edge.core.handle_timer(edge.now)
        edge.core.datagrams_to_send()
        edge.core.effects()
        edge.core.set_account(acme(dialer_flag="suspend"))
    same(fast, full, invite(to="09001234567"))
    for edge in (fast, full):
        edge.core.set_account(acme(dialer_flag="throttle"))
    for _ in range(3):
        same(fast, full, invite(to="09001234567"))
    assert fast.core.stats["refused_power_dialer"] >= 3


def test_unknown_account_overload_and_a_changed_account(runtime: PolicyRuntime) -> None:
    fast, full = pair(runtime, max_in_flight=1)
    same(fast, full, invite(to="09001234567"), OTHER_TRUNK)  # no such account
    same(fast, full, invite())  # one call in flight: the limit
    same(fast, full, invite(to="09001234567"))  # overload: 503 by the full path
    for edge in (fast, full):
        edge.core.drop_account("acme")
    same(fast, full, invite(to="09001234567"))
    for edge in (fast, full):  # the account back, with the premium class unblocked
        edge.core.set_account(acme(version=2, lifted=("premium_rate",)))
    same(fast, full, invite(to="09001234567"))


def test_fixtures_dialling_refused_numbers(runtime: PolicyRuntime) -> None:
    fast, full = pair(runtime)
    for name in ("invite_basic", "invite_compact", "invite_multi_via", "invite_folded",
                 "invite_lf_only", "invite_bad_cseq", "invite_cseq_mismatch",
                 "invite_missing_call_id", "invite_truncated", "invite_g729_only"):  # fmt: skip
        data = fixture(name).replace(b"+4930555000", b"09001234567")
        sent = same(fast, full, data)
        if sent and sent[0].startswith(b"SIP/2.0 4") and b"cause=21" in sent[0]:
            same(fast, full, _ack(data, sent[0]))


@st.composite
def _mutated_refusals(draw: st.DrawFn) -> bytes:
    rnd = random.Random(draw(st.integers(0, 2**32)))
    return mutate(invite(to=rnd.choice(REFUSED), branch=f"z9hG4bK-m{rnd.random()}"), rnd)


@settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(batch=st.lists(_mutated_refusals(), min_size=1, max_size=3))
def test_mutated_refusals_agree(runtime: PolicyRuntime, batch: list[bytes]) -> None:
    fast, full = pair(runtime)
    for data in batch:
        sent = same(fast, full, data)
        if sent and sent[0].startswith(b"SIP/2.0 4"):
            try:
                ack = _ack(data, sent[0])
            except Exception:  # noqa: BLE001 - a mutated request may not yield an ACK
                continue
            same(fast, full, ack)
