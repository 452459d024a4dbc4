"""The relay fast path (EdgeCore._relay_fast) against the full path, its reference.

Whole calls, odd shapes and mutated messages go to two cores (``_twins.pair``): one as
shipped, one with the fast paths off. They must send the same bytes to the same places
and end in the same state; and the fast path must really carry the plain messages of a
call (else these checks would compare the full path with itself).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy.percall.runtime import PolicyRuntime
from sip_edge.wire.message import Message, parse_message

from ._twins import mutate, pair, same
from .conftest import CARRIER_DE, STRANGER, TRUNK, Harness, invite, response_to

RR = "Record-Route: <sip:127.0.0.1:5060;lr>\r\nContact:"


def _set_up(fast: Harness, full: Harness, data: bytes | None = None) -> Message:
    """An allowed INVITE through both; the INVITE as the carrier receives it."""
    sent = same(fast, full, data or invite())
    assert sent[0].startswith(b"SIP/2.0 100"), sent
    return parse_message(sent[1])


def _answer(fwd: Message, status: int, reason: str) -> bytes:
    """The carrier's response, with Record-Route as a carrier echoes it."""
    return response_to(fwd, status, reason).replace(b"Contact:", RR.encode(), 1)


def _in_dialog(answered: Message, method: str, cseq: int, extra: str = "") -> bytes:
    """A request of the PBX inside the dialog the 2xx ``answered`` made."""
    return (
        f"{method} sip:carrier@127.0.0.1:5070 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.2:5061;branch=z9hG4bK-{method}{cseq};rport\r\n"
        f"Route: <sip:127.0.0.1:5060;lr>\r\n{extra}"
        f"Max-Forwards: 70\r\nFrom: {answered.get('from')}\r\nTo: {answered.get('to')}\r\n"
        f"Call-ID: {answered.get('call-id')}\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def _spy(edge: Harness) -> list[bool]:
    taken: list[bool] = []
    real = edge.core._relay_fast

    def spy(*args: Any) -> bool:
        taken.append(real(*args))
        return taken[-1]

    edge.core._relay_fast = spy  # type: ignore[method-assign]
    return taken


def _a_call(fast: Harness, full: Harness) -> list[bytes]:
    """A whole call through both cores; every message sent upstream and downstream."""
    fwd = _set_up(fast, full)
    out: list[bytes] = []
    for status, reason in ((100, "Trying"), (180, "Ringing"), (183, "Progress"), (200, "OK")):
        out += same(fast, full, _answer(fwd, status, reason), CARRIER_DE)
    answered = parse_message(out[-1])
    out += same(fast, full, _answer(fwd, 200, "OK"), CARRIER_DE)  # retransmitted 2xx
    out += same(fast, full, _in_dialog(answered, "ACK", 1))
    out += same(fast, full, _in_dialog(answered, "BYE", 2))
    bye = parse_message(out[-1])
    out += same(fast, full, response_to(bye, 200, "OK"), CARRIER_DE)
    return out


def test_a_whole_call_takes_the_fast_path(runtime: PolicyRuntime) -> None:
    fast, full = pair(runtime)
    taken = _spy(fast)
    out = _a_call(fast, full)
    # 180, 183, 200, the 2xx again, ACK, BYE, its 200: all relayed (the 100 absorbed).
    assert taken == [True] * 8
    assert [d.split(b" ", 2)[1] for d in out] == [
        b"180", b"183", b"200", b"200", b"sip:carrier@127.0.0.1:5070",
        b"sip:carrier@127.0.0.1:5070", b"200",
    ]  # fmt: skip
    stats = fast.core.stats
    relayed = ("in_dialog_ack", "in_dialog_bye", "response_stateless", "late_response_forwarded")
    assert [stats[k] for k in relayed] == [1, 1, 1, 1]


def test_the_carrier_hangs_up(runtime: PolicyRuntime) -> None:
    fast, full = pair(runtime)
    fwd = _set_up(fast, full)
    same(fast, full, _answer(fwd, 200, "OK"), CARRIER_DE)
    bye = (
        "BYE sip:alice@127.0.0.2:5061 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-cbye\r\n"
        "Route: <sip:127.0.0.1:5060;lr>\r\nMax-Forwards: 70\r\n"
        f"From: {fwd.get('to')};tag=carrier1\r\nTo: {fwd.get('from')}\r\n"
        f"Call-ID: {fwd.get('call-id')}\r\nCSeq: 7 BYE\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    taken = _spy(fast)
    (sent,) = same(fast, full, bye, CARRIER_DE)
    assert taken == [True] and sent.startswith(b"BYE sip:alice@127.0.0.2:5061")
    (ok,) = same(fast, full, response_to(parse_message(sent), 200, "OK"), TRUNK)
    assert ok.startswith(b"SIP/2.0 200") and taken == [True, True]


@pytest.mark.parametrize("status", [404, 486, 503, 603])
def test_a_refusal_by_the_carrier_its_ack_and_retransmission(
    runtime: PolicyRuntime, status: int
) -> None:
    fast, full = pair(runtime)
    fwd = _set_up(fast, full)
    same(fast, full, _answer(fwd, 180, "Ringing"), CARRIER_DE)
    first = same(fast, full, _answer(fwd, status, "No"), CARRIER_DE)
    assert [d[:3] for d in first] == [b"ACK", b"SIP"]  # ACKed by us, answered upstream
    assert same(fast, full, _answer(fwd, status, "No"), CARRIER_DE)[0].startswith(b"ACK")


def test_a_cancelled_call(runtime: PolicyRuntime) -> None:
    fast, full = pair(runtime)
    data = invite()
    fwd = _set_up(fast, full, data)
    same(fast, full, _answer(fwd, 180, "Ringing"), CARRIER_DE)
    msg = parse_message(data)
    cancel = (
        data.split(b"\r\n", 1)[0].replace(b"INVITE", b"CANCEL")
        + (
            f"\r\nVia: {msg.get('via')}\r\nMax-Forwards: 70\r\nFrom: {msg.get('from')}\r\n"
            f"To: {msg.get('to')}\r\nCall-ID: {msg.get('call-id')}\r\nCSeq: 1 CANCEL\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
    )
    sent = same(fast, full, cancel)
    ours = parse_message(next(d for d in sent if d.startswith(b"CANCEL")))
    same(fast, full, response_to(ours, 200, "OK"), CARRIER_DE)
    same(fast, full, _answer(fwd, 487, "Request Terminated"), CARRIER_DE)


_REQUEST_SHAPES: list[Callable[[bytes], bytes]] = [
    lambda d: d.replace(b"Route: <sip:127.0.0.1:5060;lr>\r\n", b""),  # not through us
    lambda d: d.replace(b"Route: <sip:127.0.0.1:5060;lr>", b"Route: <sip:10.9.9.9;lr>"),
    lambda d: d.replace(
        b"Route: <sip:127.0.0.1:5060;lr>",
        b"Route: <sip:127.0.0.1:5060;lr>\r\nRoute: <sip:127.0.0.1:5072;lr>",
    ),
    lambda d: d.replace(
        b"Route: <sip:127.0.0.1:5060;lr>",
        b"Route: <sip:127.0.0.1:5060;lr>\r\nRoute: <sip:192.0.2.1;lr>",
    ),
    lambda d: d.replace(
        b"Route: <sip:127.0.0.1:5060;lr>",
        b"Route: <sip:127.0.0.1:5060;lr>, <sip:127.0.0.1:5072;lr>",
    ),
    lambda d: d.replace(b"sip:carrier@127.0.0.1:5070", b"sip:carrier@192.0.2.1"),
    lambda d: d.replace(b"Max-Forwards: 70", b"Max-Forwards: 0"),
    lambda d: d.replace(b"Max-Forwards: 70", b"Max-Forwards: 1"),
    lambda d: d.replace(b"Max-Forwards: 70\r\n", b""),
    lambda d: d.replace(b";rport", b""),
    lambda d: d.replace(b";rport", b";rport=5061;received=127.0.0.2"),
    lambda d: d.replace(b"127.0.0.2:5061;branch", b"pbx.example:5061;branch"),
    lambda d: d.replace(b"Via: ", b"v: "),
    lambda d: d.replace(b"Via: ", b"Via:  "),
    lambda d: d.replace(b"Via: ", b"Via: ,"),  # an empty value the parse drops
    lambda d: d.replace(b"Via: ", b"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKcpe1\r\nVia: "),
    lambda d: d.replace(b"Via: ", b"Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-x, "),
    lambda d: d.replace(b";tag=carrier1", b""),
    lambda d: d.replace(b"To: ", b"t: "),
    lambda d: d.replace(b"From: ", b"From: <sip:x@y>;tag=9\r\nFrom: "),
    lambda d: d.replace(b"Content-Length: 0", b"Content-Length: 2\r\n\r\nhi")[:-4],
    lambda d: d.replace(b"\r\nContent-Length: 0", b"\r\nContent-Length: 0\r\nX-Late: 1"),
    lambda d: d.replace(b"sip:carrier@127.0.0.1:5070", b"tel:+4930555000"),
    # What the full path answers otherwise since RFC 4475 (issue 11):
    lambda d: d.replace(b"Max-Forwards: 70", b"Max-Forwards: 070"),
    lambda d: d.replace(b"\r\nTo: ", b"\r\nTo: <sip:x@y>;tag=2\r\nTo: "),
    lambda d: d.replace(b"Call-ID: ", b"Call-ID: twice\r\nCall-ID: "),
    lambda d: d.replace(b";rport", b";;rport"),
    lambda d: d.replace(b"\r\nVia: ", b"\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-x;\r\nVia: "),
    lambda d: d.replace(b"\r\nFrom: ", b'\r\nFrom: "x '),
    lambda d: d.replace(b"Max-Forwards: 70", b"Proxy-Require: x\r\nMax-Forwards: 70"),
    lambda d: d.replace(b"Max-Forwards: 70", b"Require: x\r\nMax-Forwards: 70"),
]


@pytest.mark.parametrize("shape", range(len(_REQUEST_SHAPES)))
@pytest.mark.parametrize("method", ["ACK", "BYE", "INFO"])
def test_shapes_of_a_request_inside_the_dialog(
    runtime: PolicyRuntime, shape: int, method: str
) -> None:
    fast, full = pair(runtime)
    fwd = _set_up(fast, full)
    answered = parse_message(same(fast, full, _answer(fwd, 200, "OK"), CARRIER_DE)[0])
    data = _REQUEST_SHAPES[shape](_in_dialog(answered, method, 1 if method == "ACK" else 2))
    same(fast, full, data)
    same(fast, full, data, STRANGER)


_RESPONSE_SHAPES: list[Callable[[bytes], bytes]] = [
    lambda d: d,
    lambda d: d.replace(b"SIP/2.0 200 OK", b"SIP/2.0 200"),
    lambda d: d.replace(b"Via: ", b"v: "),
    lambda d: d.replace(b"Via: ", b"Via:  "),
    lambda d: d.replace(b"From: ", b"f: "),
    lambda d: d.replace(b";lr>\r\n", b";lr>,\r\n"),  # an empty Record-Route value
    lambda d: d.replace(b"From: ", b"From: <sip:x@y>;tag=9\r\nFrom: "),
    lambda d: d.replace(b"Call-ID: ", b"Call-ID: twice\r\nCall-ID: "),
    lambda d: d.replace(b"Max-Forwards: 70", b"Require: 100rel\r\nMax-Forwards: 70"),
    lambda d: d.replace(b"\r\nTo: ", b"\r\nRequire: 100rel\r\nTo: "),
    lambda d: d.replace(b"Call-ID: ", b"Via: SIP/2.0/UDP 10.0.0.7;branch=z9hG4bK-x\r\nCall-ID: "),
    lambda d: d.replace(b"z9hG4bKcpe", b"z9hG4bKother", 1),
    lambda d: d.replace(b"127.0.0.1:5060;branch", b"127.0.0.1:5099;branch", 1),
    lambda d: d.replace(b"Content-Length: 0", b"Content-Length: 3\r\n\r\nv=0")[:-4],
    lambda d: d.replace(b"Content-Length: 0", b"l: 0"),
    lambda d: d.replace(
        b"Record-Route: <sip:127.0.0.1:5060;lr>", b"Record-Route: <sip:a;lr>, <sip:b;lr>"
    ),
]


@pytest.mark.parametrize("shape", range(len(_RESPONSE_SHAPES)))
@pytest.mark.parametrize("status", [180, 200, 486])
def test_shapes_of_a_response(runtime: PolicyRuntime, shape: int, status: int) -> None:
    fast, full = pair(runtime)
    fwd = _set_up(fast, full)
    data = _RESPONSE_SHAPES[shape](_answer(fwd, status, "OK"))
    same(fast, full, data, CARRIER_DE)
    same(fast, full, data, CARRIER_DE)  # again: retransmitted, or late


def test_shapes_of_a_response_to_a_bye(runtime: PolicyRuntime) -> None:
    no_next_via = [lambda d: re.sub(rb"Via: SIP/2.0/UDP 127.0.0.2[^\r]*\r\n", b"", d)]
    for shape in [*_RESPONSE_SHAPES, *no_next_via]:
        fast, full = pair(runtime)
        fwd = _set_up(fast, full)
        answered = parse_message(same(fast, full, _answer(fwd, 200, "OK"), CARRIER_DE)[0])
        (bye,) = same(fast, full, _in_dialog(answered, "BYE", 2))
        data = shape(response_to(parse_message(bye), 200, "OK"))
        same(fast, full, data, CARRIER_DE)


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(0, 2**32), steps=st.lists(st.integers(0, 5), min_size=1, max_size=4))
def test_mutated_messages_of_a_call_agree(
    runtime: PolicyRuntime, seed: int, steps: list[int]
) -> None:
    """A call set up on both cores, then mutated responses and requests inside it."""
    rnd = random.Random(seed)
    fast, full = pair(runtime)
    # Fixed identifiers: the same example replays the same bytes (hypothesis shrinks it).
    fwd = _set_up(fast, full, invite(branch="z9hG4bK-m", call_id="m@127.0.0.2", from_tag="m"))
    answered = parse_message(same(fast, full, _answer(fwd, 200, "OK"), CARRIER_DE)[0])
    messages = [
        (_answer(fwd, 180, "Ringing"), CARRIER_DE),
        (_answer(fwd, 200, "OK"), CARRIER_DE),
        (_answer(fwd, 486, "Busy Here"), CARRIER_DE),
        (_in_dialog(answered, "ACK", 1), TRUNK),
        (_in_dialog(answered, "BYE", 2), TRUNK),
        (_in_dialog(answered, "INFO", 3), TRUNK),
    ]
    for step in steps:
        data, addr = messages[step]
        same(fast, full, mutate(data, rnd), addr)
