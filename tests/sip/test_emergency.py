"""Emergency calls in the sans-IO core (clause 9.3): the fallback PSAP routing number when
the first refuses, stays silent or cannot be reached, and the table's emergency reserve.

The PSAP is played by hand (``response_to`` from PSAP); time is the harness's virtual
clock, driven through ``get_timer``/``handle_timer``.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from policy.percall.runtime import PolicyRuntime
from sip_edge.core.proxy import MAGIC
from sip_edge.wire.message import Message, parse_message, parse_via

from ._twins import pair, same
from .conftest import (
    CARRIER_DE,
    OTHER_TRUNK,
    PSAP,
    TRUNK,
    Harness,
    invite,
    request_from,
    response_to,
)

Out = list[tuple[Message, tuple[str, int]]]

#: test-berlin-mitte (the acme site) in rules/emergency.toml.
ROUTE_112, FALLBACK_112 = "4911203001", "4911203002"
ROUTE_110, FALLBACK_110 = "4911003001", "4911003002"


def sent(out: Out) -> list[tuple[object, tuple[str, int]]]:
    """(status or method, destination) of each message."""
    return [(m.status or m.method, a) for m, a in out]


def uri(number: str) -> str:
    return f"sip:{number}@{PSAP[0]}:{PSAP[1]}"


def emergency(edge: Harness, to: str = "112", addr: tuple[str, int] = TRUNK) -> Message:
    """An emergency INVITE through the edge; the INVITE as the PSAP receives it."""
    out = edge.send(invite(to=to), addr)
    assert sent(out) == [(100, addr), ("INVITE", PSAP)], out
    return out[1][0]


def branch(msg: Message) -> str:
    return parse_via(msg.get_all("via")[0]).branch


def test_a_refusal_by_the_psap_goes_on_to_the_fallback(edge: Harness) -> None:
    first = emergency(edge)
    assert first.uri == uri(ROUTE_112)
    out = edge.send(response_to(first, 503, "Service Unavailable"), PSAP)
    # The 503 is ACKed to the PSAP and the INVITE goes again to the fallback routing
    # number; nothing goes to the caller, who still waits.
    assert sent(out) == [("ACK", PSAP), ("INVITE", PSAP)]
    ack, second = out[0][0], out[1][0]
    assert ack.uri == uri(ROUTE_112) and branch(ack) == branch(first)
    assert second.uri == uri(FALLBACK_112)
    # A new client transaction (16.6 step 8): a new branch, the same loop-detecting part.
    assert branch(second) != branch(first)
    assert branch(second).rpartition(".")[0] == branch(first).rpartition(".")[0]
    assert branch(second).startswith(MAGIC)
    # The rest of the request is the first one's: identity, location, Record-Route, CSeq.
    for key in ("from", "p-asserted-identity", "geolocation", "record-route", "cseq", "to"):
        assert second.get(key) == first.get(key), key
    assert second.get_all("via")[1:] == first.get_all("via")[1:]
    assert second.body == first.body
    # The first PSAP retransmits its 503 (our ACK was lost): ACKed again, not sent up.
    assert sent(edge.send(response_to(first, 503, "Service Unavailable"), PSAP)) == [("ACK", PSAP)]
    # The fallback answers: the caller gets its answer.
    assert sent(edge.send(response_to(second, 180, "Ringing", "psap2"), PSAP)) == [(180, TRUNK)]
    ok = edge.send(response_to(second, 200, "OK", "psap2"), PSAP)
    assert sent(ok) == [(200, TRUNK)]
    assert (ok[0][0].get("to") or "").endswith("tag=psap2")
    assert len(ok[0][0].get_all("via")) == 1  # the caller's own Via only
    stats = edge.core.stats
    assert (stats["emergency_fallback"], stats["emergency_fallback_absorbed"]) == (1, 1)
    assert edge.core._pending == 0


def test_the_caller_gets_the_fallbacks_refusal_when_both_refuse(edge: Harness) -> None:
    first = emergency(edge, "110")
    out = edge.send(response_to(first, 500, "Server Internal Error"), PSAP)
    second = out[1][0]
    assert second.uri == uri(FALLBACK_110)
    out = edge.send(response_to(second, 486, "Busy Here", "psap2"), PSAP)
    assert sent(out) == [("ACK", PSAP), (486, TRUNK)]  # no fallback left: answered
    assert out[0][0].uri == uri(FALLBACK_110)
    assert edge.core.stats["emergency_fallback"] == 1 and edge.core._pending == 0


def test_a_silent_psap_times_out_into_the_fallback_on_a_virtual_clock(edge: Harness) -> None:
    start = edge.now
    first = emergency(edge)
    log: list[tuple[float, object, str]] = []
    while (deadline := edge.core.get_timer()) is not None and deadline < start + 70:
        edge.now = deadline
        edge.core.handle_timer(deadline)
        log += [(round(deadline - start, 2), m.status or m.method, m.uri) for m, _ in edge.out()]
    # Timer A retransmits to the first routing number; Timer B (64*T1) sends the INVITE
    # to the fallback instead of a 408; the fallback's own Timer B ends the call.
    primary = [t for t, what, u in log if what == "INVITE" and u == first.uri]
    assert primary == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert (32.0, "INVITE", uri(FALLBACK_112)) in log
    fallback = [t for t, what, u in log if what == "INVITE" and u == uri(FALLBACK_112)]
    assert fallback == [32.0, 32.5, 33.5, 35.5, 39.5, 47.5, 63.5]
    assert next(t for t, what, _ in log if what == 408) == 64.0  # then Timer G resends it
    assert not [what for _, what, _ in log if what in (503, 500)]
    assert edge.core._pending == 0


def test_a_late_answer_of_the_silent_psap_still_reaches_the_caller(edge: Harness) -> None:
    first = emergency(edge)
    edge.advance(edge.now + 33)  # Timer B: on to the fallback
    assert edge.core.stats["emergency_fallback"] == 1
    late = edge.send(response_to(first, 200, "OK"), PSAP)
    assert sent(late) == [(200, TRUNK)]  # 16.7 step 5: every 2xx goes upstream


def test_an_unreachable_psap_goes_on_to_the_fallback_at_once(edge: Harness) -> None:
    first = emergency(edge)
    edge.core.unreachable(PSAP, edge.now)
    out = edge.out()
    assert sent(out) == [("INVITE", PSAP)]
    assert out[0][0].uri == uri(FALLBACK_112)
    assert branch(out[0][0]) != branch(first)
    edge.core.unreachable(PSAP, edge.now)  # the fallback unreachable too: Timer B decides
    assert edge.out() == [] and edge.core.stats["emergency_unreachable"] == 1


def test_an_unknown_account_falls_back_within_the_default_area(edge: Harness) -> None:
    first = emergency(edge, "112", OTHER_TRUNK)
    assert first.uri == uri("49112990000")
    out = edge.send(response_to(first, 503, "Service Unavailable"), PSAP)
    assert out[1][0].uri == uri("49112990001")


@pytest.mark.parametrize("status", [600, 603, 604, 606])
def test_a_global_failure_is_not_tried_elsewhere(edge: Harness, status: int) -> None:
    """RFC 3261 16.7 step 5: a 6xx speaks for every location; no new branch."""
    first = emergency(edge)
    out = edge.send(response_to(first, status, "Decline"), PSAP)
    assert sent(out) == [("ACK", PSAP), (status, TRUNK)]
    assert edge.core.stats["emergency_fallback"] == 0


def test_a_call_the_caller_cancelled_is_not_tried_elsewhere(edge: Harness) -> None:
    data = invite(to="112")
    out = edge.send(data)
    first = out[1][0]
    edge.send(response_to(first, 180, "Ringing"), PSAP)
    assert sent(edge.send(request_from(parse_message(data), "CANCEL"))) == [
        (200, TRUNK),
        ("CANCEL", PSAP),
    ]
    out = edge.send(response_to(first, 487, "Request Terminated"), PSAP)
    assert sent(out) == [("ACK", PSAP), (487, TRUNK)]
    assert edge.core.stats["emergency_fallback"] == 0


def test_a_carrier_refusal_is_still_answered_at_once(edge: Harness) -> None:
    _, fwd = edge.call()
    out = edge.send(response_to(fwd, 503, "Service Unavailable"), CARRIER_DE)
    assert sent(out) == [("ACK", CARRIER_DE), (503, TRUNK)]


def test_fast_and_full_paths_agree_through_a_fallback(runtime: PolicyRuntime) -> None:
    fast, full = pair(runtime)
    (_, out) = same(fast, full, invite(to="112"))
    first = parse_message(out)
    refusal = response_to(first, 503, "Service Unavailable")
    ack, again = same(fast, full, refusal, PSAP)
    assert ack.startswith(b"ACK ") and again.startswith(b"INVITE sip:" + FALLBACK_112.encode())
    assert same(fast, full, refusal, PSAP)[0].startswith(b"ACK ")  # the retired branch
    second = parse_message(again)
    (ok,) = same(fast, full, response_to(second, 200, "OK", "psap2"), PSAP)
    assert ok.startswith(b"SIP/2.0 200")


# --- the emergency reserve of the transaction table ------------------------------------


def test_emergency_calls_find_room_in_a_table_full_of_calls_in_set_up(
    make_edge: Callable[..., Harness],
) -> None:
    """At the limit: ordinary calls in set-up (the oldest entries) up to max_in_flight,
    and the rest of the table taken by answered emergency calls. A new ordinary call is
    shed with 503; a new 110/112 evicts a finished entry, wherever it is, and goes out."""
    edge = make_edge(max_in_flight=70, max_transactions=100, emergency_reserve=10)
    edge.core.limits.configure(1000, 1000, 60)  # the power-dialer limits out of the way
    for i in range(70):  # the carrier does not answer: all still in set-up
        edge.now += 0.001
        assert sent(edge.send(invite(from_user=f"+4930123450{i:02}")))[0][0] == 100
    (shed, _), *_ = edge.send(invite())
    assert (shed.status, shed.get("retry-after")) == (503, "5")
    for _ in range(30):  # answered at once: finished entries behind the 70 in set-up
        edge.now += 0.001
        first = emergency(edge)
        edge.send(response_to(first, 200, "OK"), PSAP)
    assert len(edge.core._server) == 100 and edge.core._pending == 70
    for _ in range(5):
        edge.now += 0.001
        emergency(edge)  # never 503: an answered one is evicted for it
    assert edge.core.stats["overload_503"] == 1
    assert edge.core.stats["evicted"] >= 5 and len(edge.core._server) <= 100
    (shed, _), *_ = edge.send(invite())  # ordinary calls: still shed
    assert shed.status == 503


def test_ordinary_calls_leave_the_reserve_free(make_edge: Callable[..., Harness]) -> None:
    """Ordinary calls evict finished entries so that ``emergency_reserve`` slots stay
    free; they are shed when they cannot."""
    edge = make_edge(max_in_flight=50, max_transactions=60, emergency_reserve=10)
    edge.core.limits.configure(1000, 1000, 60)
    for i in range(60):  # each refused by the carrier: a finished entry (Timer H holds it)
        edge.now += 0.001
        _, fwd = edge.call(invite(from_user=f"+4930123450{i:02}"))
        edge.send(response_to(fwd, 486, "Busy Here"), CARRIER_DE)
    assert len(edge.core._server) <= 50  # never into the last 10 slots
    assert edge.core.stats["overload_503"] == 0
    for _ in range(10):
        emergency(edge)
    assert len(edge.core._server) <= 60
