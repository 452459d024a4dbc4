"""The data plane's relay (sip_edge/fast/relay.c) against the Python core, its reference.

Twins as in ``test_plane.py``: one core alone, one behind the C plane, fed a whole call
and its odd shapes and mutations at the same times. They must send the same bytes to the
same places and end with the same counters, calls, site holds and remembered refusals.
The plane must also really relay the plain requests inside the dialog (ACK, BYE, INFO)
and the responses to them, else the comparisons would hold trivially.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy.percall.runtime import PolicyRuntime
from sip_edge.wire.message import Message, parse_message

from ._twins import mutate
from .conftest import CARRIER_DE, STRANGER, TRUNK, invite, response_to
from .test_plane import Twins
from .test_relay_fast import _REQUEST_SHAPES, _RESPONSE_SHAPES, _answer, _in_dialog


def _folded(data: bytes, sep: bytes = b", ") -> bytes:
    """``data`` with its Via lines folded into one, as sipp's UAS echoes them."""
    vias = re.findall(rb"Via: ([^\r]*)\r\n", data)
    first = data.index(b"Via: ")
    rest = re.sub(rb"Via: [^\r]*\r\n", b"", data)
    return rest[:first] + b"Via: " + sep.join(vias) + b"\r\n" + rest[first:]


def _set_up(t: Twins, data: bytes | None = None) -> tuple[Message, Message]:
    """An allowed INVITE answered 200: the INVITE as forwarded, and the 200 upstream."""
    sent = t.send(data or invite())
    assert sent[0].startswith(b"SIP/2.0 100"), sent
    fwd = parse_message(sent[1])
    (ok,) = t.send(_answer(fwd, 200, "OK"), CARRIER_DE)
    return fwd, parse_message(ok)


def test_a_whole_call_is_relayed_in_c_after_its_answer(runtime: PolicyRuntime) -> None:
    t = Twins(runtime)
    sent = t.send(invite())
    fwd = parse_message(sent[1])
    for status, reason in ((100, "Trying"), (180, "Ringing"), (200, "OK")):
        t.send(_answer(fwd, status, reason), CARRIER_DE)
    # The INVITE is the core's; its answers are relayed by the plane (owned.c) and
    # replayed into the core's transactions (the twins compare those after each step).
    assert t.handled == 3
    # The 2xx handed the call back: its retransmission is the core's (Timer L, _late).
    answered = parse_message(t.send(_answer(fwd, 200, "OK"), CARRIER_DE)[0])
    assert t.handled == 3
    holds = t.edge.core.admission.holds()
    assert holds  # the call holds its share of the site
    (ack,) = t.send(_in_dialog(answered, "ACK", 1))
    (info,) = t.send(_in_dialog(answered, "INFO", 2))
    (bye,) = t.send(_in_dialog(answered, "BYE", 3))
    (ok,) = t.send(response_to(parse_message(bye), 200, "OK"), CARRIER_DE)
    assert t.handled == 7
    assert [d.split(b" ", 1)[0] for d in (ack, info, bye)] == [b"ACK", b"INFO", b"BYE"]
    assert ok.startswith(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.2:5061;")
    assert t.edge.core.admission.holds() == {}  # the plane ended the hold in C
    stats = t.edge.core.stats
    relayed = ("in_dialog_ack", "in_dialog_info", "in_dialog_bye", "response_stateless")
    assert [stats[k] for k in relayed] == [1, 1, 1, 1]
    assert stats["plane_answered"] == 7


def test_retransmissions_get_the_same_branch(runtime: PolicyRuntime) -> None:
    t = Twins(runtime)
    _, answered = _set_up(t)
    bye = _in_dialog(answered, "BYE", 2)
    first, again = t.send(bye), t.send(bye)
    assert first == again and t.handled == 3  # the 200 of _set_up, then the BYE twice


def test_the_carrier_hangs_up(runtime: PolicyRuntime) -> None:
    t = Twins(runtime)
    fwd, _ = _set_up(t)
    bye = (
        "BYE sip:alice@127.0.0.2:5061 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-cbye\r\n"
        "Route: <sip:127.0.0.1:5060;lr>\r\nMax-Forwards: 70\r\n"
        f"From: {fwd.get('to')};tag=carrier1\r\nTo: {fwd.get('from')}\r\n"
        f"Call-ID: {fwd.get('call-id')}\r\nCSeq: 7 BYE\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    (sent,) = t.send(bye, CARRIER_DE)
    assert sent.startswith(b"BYE sip:alice@127.0.0.2:5061")
    (ok,) = t.send(response_to(parse_message(sent), 200, "OK"), TRUNK)
    assert ok.startswith(b"SIP/2.0 200") and t.handled == 3
    assert t.edge.core.admission.holds() == {}


def test_the_ack_of_the_cores_own_refusal_is_absorbed_not_relayed(
    runtime: PolicyRuntime,
) -> None:
    """A refusal the core wrote (a spelling the plane's INVITE scanner leaves to it) sits
    in the plane's table too, so the plane absorbs its ACK instead of relaying it by the
    Route it carries (RFC 3261 17.1.1.3: the ACK of a non-2xx has the INVITE's Route)."""
    t = Twins(runtime)
    route = b"Route: <sip:127.0.0.1:5060;lr>\r\nMax-Forwards:"
    data = invite(to="09001234567").replace(b"Max-Forwards:", route, 1)
    (answer,) = t.send(data.replace(b"Call-ID:", b"call-id:"))
    assert answer.startswith(b"SIP/2.0 403") and t.handled == 0
    req, resp = parse_message(data), parse_message(answer)
    ack = data.replace(b"INVITE sip:", b"ACK sip:", 1).replace(b" INVITE\r\n", b" ACK\r\n")
    ack = ack.replace(f"To: {req.get('to')}".encode(), f"To: {resp.get('to')}".encode())
    assert t.send(ack) == []
    assert t.edge.core.stats["ack_absorbed"] == 1


@pytest.mark.parametrize("shape", range(len(_REQUEST_SHAPES)))
@pytest.mark.parametrize("method", ["ACK", "BYE", "INFO"])
def test_shapes_of_a_request_inside_the_dialog(
    runtime: PolicyRuntime, shape: int, method: str
) -> None:
    t = Twins(runtime)
    _, answered = _set_up(t)
    data = _REQUEST_SHAPES[shape](_in_dialog(answered, method, 1 if method == "ACK" else 2))
    t.send(data)
    t.send(data, STRANGER)


def test_a_response_with_its_vias_folded_is_relayed_in_c(runtime: PolicyRuntime) -> None:
    """sipp's UAS echoes the Vias in one line (RFC 3261 7.3.1): the plane writes what the
    core's full path writes, one Via per line."""
    for sep in (b", ", b",", b" , "):
        t = Twins(runtime)
        _, answered = _set_up(t)
        (bye,) = t.send(_in_dialog(answered, "BYE", 2))
        (ok,) = t.send(_folded(response_to(parse_message(bye), 200, "OK"), sep), CARRIER_DE)
        assert ok.startswith(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.2:5061;")
        assert t.handled == 3


def test_shapes_of_a_response_to_a_bye(runtime: PolicyRuntime) -> None:
    folded: list[Callable[[bytes], bytes]] = [
        _folded,
        lambda d: _folded(d, b",,"),
        lambda d: _folded(d, b",\t"),
        lambda d: _folded(d).replace(b"Via: ", b"Via: SIP/2.0/UDP 127.0.0.9;branch=z9hG4bK-x, ", 1),
        lambda d: _folded(d).replace(
            b"\r\nFrom: ",
            b"\r\nVia: SIP/2.0/UDP 10.0.0.1:5;branch=b, SIP/2.0/UDP 10.0.0.2;branch=c\r\nFrom: ",
        ),
    ]
    for shape in [*_RESPONSE_SHAPES, *folded]:
        t = Twins(runtime)
        _, answered = _set_up(t)
        (bye,) = t.send(_in_dialog(answered, "BYE", 2))
        t.send(shape(response_to(parse_message(bye), 200, "OK")), CARRIER_DE)


@pytest.mark.parametrize(("status", "relayed"), [(180, 2), (200, 1), (486, 0)])
def test_answers_to_the_invite_twice(runtime: PolicyRuntime, status: int, relayed: int) -> None:
    """The plane relays provisional answers for the core (owned.c) and the first 2xx,
    which hands the call back: its retransmission is the core's (Timer L); an error
    answer is the core's from the start (its ACK, Timer D)."""
    t = Twins(runtime)
    sent = t.send(invite())
    fwd = parse_message(sent[1])
    t.send(_answer(fwd, status, "X"), CARRIER_DE)
    t.send(_answer(fwd, status, "X"), CARRIER_DE)
    assert t.handled == relayed


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(seed=st.integers(0, 2**32), steps=st.lists(st.integers(0, 7), min_size=1, max_size=5))
def test_mutated_messages_of_a_call_agree(
    runtime: PolicyRuntime, seed: int, steps: list[int]
) -> None:
    """A call answered on both, then mutated requests inside it and responses."""
    rnd = random.Random(seed)
    t = Twins(runtime)
    fwd, answered = _set_up(t, invite(branch="z9hG4bK-m", call_id="m@127.0.0.2", from_tag="m"))
    bye = _in_dialog(answered, "BYE", 2)
    bye_sent = t.send(bye)
    messages = [
        (_answer(fwd, 200, "OK"), CARRIER_DE),
        (_in_dialog(answered, "ACK", 1), TRUNK),
        (bye, TRUNK),
        (_in_dialog(answered, "INFO", 3), TRUNK),
        (response_to(parse_message(bye_sent[0]), 200, "OK"), CARRIER_DE),
        (_in_dialog(answered, "UPDATE", 4), TRUNK),
        (_in_dialog(answered, "NOTIFY", 5), CARRIER_DE),
        (_folded(response_to(parse_message(bye_sent[0]), 200, "OK")), CARRIER_DE),
    ]
    for step in steps:
        data, addr = messages[step]
        t.send(mutate(data, rnd), addr)
