"""Hypothesis: mutated messages into receive(); no exception escapes, memory stays bounded."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy.percall.runtime import PolicyRuntime

from .conftest import CARRIER_DE, FIXTURES, TRUNK, Harness

SEEDS = [p.read_bytes() for p in sorted(FIXTURES.glob("*.sip"))]
TOKENS = [
    b"\r\n", b"\r\n ", b":", b";", b",", b"<", b">", b'"', b"\x00", b"\xff", b"Via: ",
    b"v: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKcpe", b"CSeq: 4294967296 INVITE",
    b"Content-Length: 99999", b"l: -1", b"Max-Forwards: 0", b"SIP/2.0 200 OK\r\n",
    b"To: <sip:x@y>;tag=1", b"Route: <sip:127.0.0.1:5060;lr>", b"[::1]", b"sip:", b"%",
]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.integers(0, 4))
        pos = draw(st.integers(0, len(data)))
        if op == 0 and data:
            data[min(pos, len(data) - 1)] = draw(st.integers(0, 255))
        elif op == 1:
            data[pos:pos] = draw(st.sampled_from(TOKENS))
        elif op == 2:
            end = draw(st.integers(pos, min(len(data), pos + 40)))
            del data[pos:end]
        elif op == 3:
            data = data[:pos]
        else:
            data[pos:pos] = draw(st.binary(max_size=20))
    return bytes(data)


@settings(
    max_examples=1500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(batch=st.lists(mutated(), min_size=1, max_size=4), carrier=st.booleans())
def test_mutated_messages_never_raise(
    runtime: PolicyRuntime, batch: list[bytes], carrier: bool
) -> None:
    edge = Harness(runtime)
    for data in batch:
        edge.core.receive(data, CARRIER_DE if carrier else TRUNK, edge.now)
        edge.core.datagrams_to_send()
        edge.now += 0.1
    edge.advance(edge.now + 400)
    assert edge.core._pending >= 0


@st.composite
def mutate_bytes(draw: st.DrawFn, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        pos = draw(st.integers(0, len(data)))
        if draw(st.booleans()):
            data[pos:pos] = draw(st.sampled_from(TOKENS))
        else:
            del data[pos : pos + draw(st.integers(1, 30))]
    return bytes(data)


@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_mutated_responses_and_cancels_during_a_call(
    runtime: PolicyRuntime, data: st.DataObject
) -> None:
    from sip_edge.wire.message import parse_message

    from .conftest import invite, request_from, response_to

    edge = Harness(runtime)
    req = invite(branch="z9hG4bK-fuzz", call_id="fuzz@127.0.0.2", from_tag="fz")
    _, fwd = edge.call(req)
    seeds = [
        response_to(fwd, 180, "Ringing"),
        response_to(fwd, 200, "OK"),
        response_to(fwd, 487, "Request Terminated"),
        request_from(parse_message(req), "CANCEL"),
    ]
    for _ in range(data.draw(st.integers(1, 5))):
        i = data.draw(st.integers(0, len(seeds) - 1))
        blob = data.draw(mutate_bytes(seeds[i])) if data.draw(st.booleans()) else seeds[i]
        edge.core.receive(blob, TRUNK if i == 3 else CARRIER_DE, edge.now)
        edge.core.datagrams_to_send()
        edge.now += 0.3
    edge.advance(edge.now + 400)
    assert edge.core._pending == 0
    assert not edge.core._clients and not edge.core._calls
