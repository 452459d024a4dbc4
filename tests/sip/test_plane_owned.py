"""The answers to an INVITE the core forwarded, relayed by the data plane (owned.c).

Twins as in ``test_plane.py``: one core alone, one behind the C plane, fed the same
datagrams and timers at the same times; they must send the same bytes to the same places
and end in the same transaction states (the twin's ``state`` brings the core up to date
with what the plane relayed first, as every path that acts on a call does). Here the
call's answers meet everything that makes the core take a call back: its timers (A, B,
C), a CANCEL, a retransmitted INVITE, an error answer, and random orders of all of them.
The plane must really relay the plain answers, else the comparisons hold trivially.
"""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy.percall.runtime import PolicyRuntime
from sip_edge.wire.message import Message, parse_message

from ._twins import mutate
from .conftest import CARRIER_DE, PSAP, TRUNK, invite, request_from, response_to
from .test_plane import Twins
from .test_plane_relay import _folded
from .test_relay_fast import _answer, _in_dialog


def _call(t: Twins, data: bytes | None = None) -> tuple[bytes, Message]:
    """An allowed INVITE forwarded by the core: (the INVITE, as forwarded)."""
    data = data or invite()
    sent = t.send(data)
    assert sent[0].startswith(b"SIP/2.0 100") and sent[1].startswith(b"INVITE ")
    return data, parse_message(sent[1])


def _tick(t: Twins, now: float) -> list[bytes]:
    """Both cores' timers at ``now``; they must send the same and end alike."""
    t.set_now(now)
    t.each(lambda e: e.core.handle_timer(now))
    ref, got = t.ref.core.datagrams_to_send(), t.edge.core.datagrams_to_send()
    assert got == ref, now
    assert t.state(t.edge) == t.state(t.ref), now
    return [d for d, _ in got]


def test_the_plain_answers_are_relayed_and_replayed(runtime: PolicyRuntime) -> None:
    t = Twins(runtime)
    _, fwd = _call(t)
    assert t.send(_answer(fwd, 100, "Trying"), CARRIER_DE) == []  # absorbed (16.7 step 3)
    (ringing,) = t.send(_answer(fwd, 180, "Ringing"), CARRIER_DE)
    assert ringing.startswith(b"SIP/2.0 180 Ringing\r\nVia: SIP/2.0/UDP 127.0.0.2:5061;")
    assert t.bridge.plane.owned == 1
    (ok,) = t.send(_answer(fwd, 200, "OK"), CARRIER_DE)
    assert ok.startswith(b"SIP/2.0 200 OK") and t.handled == 3
    assert t.bridge.plane.owned == 0  # handed back with the 2xx, taken by the core
    assert t.edge.core.in_flight == t.ref.core.in_flight == 0
    _tick(t, t.edge.now + 1.0)  # Timer A of the forwarded INVITE: nothing left to do


def _as_sipp(answer: bytes, body: bytes = b"") -> bytes:
    """An answer as sipp's UAS writes it: the Vias folded into one line, the body's
    Content-Length padded with spaces ([len])."""
    head, _, _ = answer.partition(b"Content-Length: 0\r\n\r\n")
    if body:
        head += b"Content-Type: application/sdp\r\n"
    return _folded(head + b"Content-Length:   %d\r\n\r\n" % len(body) + body)


def test_sipp_shaped_answers_are_relayed_as_the_core_writes_them(runtime: PolicyRuntime) -> None:
    """A padded Content-Length is written out again as the core's full path writes it."""
    t = Twins(runtime)
    _, fwd = _call(t)
    (ringing,) = t.send(_as_sipp(_answer(fwd, 180, "Ringing")), CARRIER_DE)
    body = b"v=0\r\no=carrier 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
    (ok,) = t.send(_as_sipp(_answer(fwd, 200, "OK"), body), CARRIER_DE)
    assert t.handled == 2
    assert b"Content-Length: 0\r\n\r\n" in ringing
    assert ok.endswith(b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)


def test_a_padded_length_elsewhere_stays_the_cores(runtime: PolicyRuntime) -> None:
    """The relay's writers copy the Content-Length line: padded, it is the core's."""
    t = Twins(runtime)
    _, fwd = _call(t)
    (ok,) = t.send(_answer(fwd, 200, "OK"), CARRIER_DE)
    answered = parse_message(ok)
    t.send(_in_dialog(answered, "ACK", 1).replace(b"Length: 0", b"Length:  0"))
    (bye,) = t.send(_in_dialog(answered, "BYE", 2).replace(b"Length: 0", b"Length:  0"))
    t.send(_as_sipp(response_to(parse_message(bye), 200, "OK")), CARRIER_DE)
    assert t.handled == 1


def test_a_timer_that_finds_nothing_to_do_leaves_the_call_to_the_plane(
    runtime: PolicyRuntime,
) -> None:
    t = Twins(runtime)
    _, fwd = _call(t)
    now = t.edge.now
    t.send(_answer(fwd, 180, "Ringing"), CARRIER_DE)
    assert _tick(t, now + 0.5) == []  # Timer A: off since the 180 (replayed first)
    assert t.bridge.plane.owned == 1  # a timer only looks
    t.send(_answer(fwd, 200, "OK"), CARRIER_DE)
    assert t.handled == 2


def test_a_timer_that_acts_takes_the_call_back(runtime: PolicyRuntime) -> None:
    t = Twins(runtime)
    _, fwd = _call(t)
    now = t.edge.now
    (again,) = _tick(t, now + 0.5)  # Timer A (T1): no answer, the INVITE again
    assert again.startswith(b"INVITE ")
    assert t.bridge.plane.owned == 0  # the core's from here on
    t.send(_answer(fwd, 180, "Ringing"), CARRIER_DE)
    _tick(t, now + 1.5)
    t.send(_answer(fwd, 200, "OK"), CARRIER_DE)
    assert t.handled == 0


def test_timer_c_cancels_a_call_ringing_too_long(runtime: PolicyRuntime) -> None:
    t = Twins(runtime)
    _, fwd = _call(t)
    now = t.edge.now
    t.send(_answer(fwd, 180, "Ringing"), CARRIER_DE)
    sent = []
    for step in range(1, 10):
        sent += _tick(t, now + 30.0 * step)  # Timer C (180 s, RFC 3261 16.8): CANCEL
    assert any(d.startswith(b"CANCEL ") for d in sent)  # by both alike (compared)
    assert t.bridge.plane.owned == 0


def test_a_cancel_takes_the_call_back(runtime: PolicyRuntime) -> None:
    t = Twins(runtime)
    data, fwd = _call(t)
    t.send(_answer(fwd, 180, "Ringing"), CARRIER_DE)
    sent = t.send(request_from(parse_message(data), "CANCEL"))
    assert sent[0].startswith(b"SIP/2.0 200") and sent[1].startswith(b"CANCEL ")
    assert t.bridge.plane.owned == 0
    t.send(_answer(fwd, 487, "Request Terminated"), CARRIER_DE)  # the core's: ACK, 487 up
    assert t.handled == 1


def test_a_retransmitted_invite_gets_the_last_answer_relayed(runtime: PolicyRuntime) -> None:
    t = Twins(runtime)
    data, fwd = _call(t)
    (ringing,) = t.send(_answer(fwd, 180, "Ringing"), CARRIER_DE)
    assert t.send(data) == [ringing]  # RFC 3261 17.2.1: the last provisional again
    assert t.bridge.plane.owned == 0  # its messages are the core's from here on
    t.send(_answer(fwd, 200, "OK"), CARRIER_DE)
    assert t.handled == 1


def test_an_error_answer_is_the_cores(runtime: PolicyRuntime) -> None:
    t = Twins(runtime)
    _, fwd = _call(t)
    t.send(_answer(fwd, 183, "Session Progress"), CARRIER_DE)
    sent = t.send(_answer(fwd, 486, "Busy Here"), CARRIER_DE)
    ack = [b"ACK", b"sip:+4930555000@127.0.0.1:5070;user=phone"]
    assert [d.split(b" ", 2)[:2] for d in sent] == [ack, [b"SIP/2.0", b"486"]]
    assert t.handled == 1 and t.bridge.plane.owned == 0


def test_an_emergency_call_keeps_its_answers_in_the_core(runtime: PolicyRuntime) -> None:
    """Its answers may send it on to the fallback routing number (clause 9.3)."""
    t = Twins(runtime)
    sent = t.send(invite(to="112"))
    fwd = parse_message(sent[1])
    t.send(_answer(fwd, 180, "Ringing"), PSAP)
    t.send(_answer(fwd, 200, "OK"), PSAP)
    assert t.handled == 0 and t.bridge.plane.owned == 0


def test_a_refusal_after_a_2xx_relayed_in_c_reads_the_ended_set_up(
    runtime: PolicyRuntime,
) -> None:
    """At its limit of concurrent set-ups, an account's call is answered 200 in C and the
    next INVITE, refused by the rules, is decided in C before the core took the call back:
    the plane ended the set-up's count with the 2xx, so the refusal is the rule's (403),
    not the power dialer's, as the core alone would answer."""
    t = Twins(runtime)
    t.each(lambda e: e.core.limits.configure(100, 1, 10.0))
    _, fwd = _call(t)
    t.send(_answer(fwd, 200, "OK"), CARRIER_DE, compare=False, adopt=False)
    (refused,) = t.send(invite(to="09001234567"), compare=False, adopt=False)
    assert refused.startswith(b"SIP/2.0 403") and t.handled == 2
    t.bridge.adopt()
    assert t.state(t.edge) == t.state(t.ref)


def test_a_new_invite_with_the_call_id_of_a_handed_back_call_stays_the_cores(
    runtime: PolicyRuntime,
) -> None:
    """The first call is handed back with its 2xx; before the core takes it, a new INVITE
    with the same Call-ID is forwarded: the plane does not take the second (one call per
    Call-ID), so the first one's answers cannot be lost or reordered."""
    t = Twins(runtime)
    _, fwd = _call(t, invite(call_id="same@127.0.0.2"))
    t.send(_answer(fwd, 200, "OK"), CARRIER_DE, compare=False, adopt=False)
    second = invite(call_id="same@127.0.0.2", branch="z9hG4bK-second")
    sent = t.send(second, compare=False, adopt=False)
    fwd2 = parse_message(sent[1])
    assert t.bridge.plane.owned == 1  # the first, handed back, not taken yet
    assert not t.edge.core._clients[fwd2.top_via().branch].owned
    t.bridge.adopt()
    assert t.state(t.edge) == t.state(t.ref)
    t.send(_answer(fwd2, 180, "Ringing"), CARRIER_DE)
    assert t.handled == 1


def test_a_trunk_with_a_live_tcp_connection_keeps_its_answers_in_the_core(
    runtime: PolicyRuntime,
) -> None:
    """Answers to a peer with a live TCP connection go on it (the shell's flush), so the
    plane, which sends over UDP, does not take them."""
    t = Twins(runtime)
    t.each(lambda e: setattr(e.core, "streams", {TRUNK}))
    _, fwd = _call(t)
    t.send(_answer(fwd, 180, "Ringing"), CARRIER_DE)
    t.send(_answer(fwd, 200, "OK"), CARRIER_DE)
    assert t.handled == 0


def test_eight_provisionals_hand_the_call_back(runtime: PolicyRuntime) -> None:
    t = Twins(runtime)
    _, fwd = _call(t)
    for _ in range(10):  # no sync between them (which would empty the plane's record)
        t.send(_answer(fwd, 183, "Session Progress"), CARRIER_DE, compare=False)
    assert t.handled == 8  # CP_OWNED_EVENTS; the ninth is the core's, in order
    t.send(_answer(fwd, 200, "OK"), CARRIER_DE)


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 2**32),
    steps=st.lists(st.tuples(st.integers(0, 9), st.booleans()), min_size=1, max_size=8),
)
def test_answers_cancels_retransmissions_and_timers_in_any_order(
    runtime: PolicyRuntime, seed: int, steps: list[tuple[int, bool]]
) -> None:
    """Random sequences of the call's answers (some mutated), the customer's CANCEL and
    retransmission, and time passing: the twins agree after every step."""
    rnd = random.Random(seed)
    t = Twins(runtime)
    data, fwd = _call(t, invite(branch="z9hG4bK-o", call_id="o@127.0.0.2", from_tag="o"))
    messages = [
        (_answer(fwd, 100, "Trying"), CARRIER_DE),
        (_answer(fwd, 180, "Ringing"), CARRIER_DE),
        (_answer(fwd, 183, "Session Progress"), CARRIER_DE),
        (_answer(fwd, 200, "OK"), CARRIER_DE),
        (_answer(fwd, 486, "Busy Here"), CARRIER_DE),
        (_as_sipp(_answer(fwd, 180, "Ringing")), CARRIER_DE),
        (request_from(parse_message(data), "CANCEL"), TRUNK),
        (data, TRUNK),  # a retransmission
    ]
    now = t.edge.now
    for step, mutated in steps:
        if step >= len(messages):
            now += (0.3, 2.0)[step - len(messages)]
            _tick(t, now)
            continue
        msg, addr = messages[step]
        t.send(mutate(msg, rnd) if mutated else msg, addr)
