"""A carrier's 180 after its 200, through the sans-IO core (no sockets).

RFC 3261 16.7 / RFC 6026: the 2xx ends the client transaction; while the server side
absorbs retransmissions (Timer L) the call's branch is kept, so a provisional response
that trails the 2xx (or a retransmitted 2xx) goes upstream like the call's other answers:
the customer's own Vias and From (8.2.6.2). It must not re-open the transaction, be
answered or ACKed, or count the set-up twice (in-flight count, power-dialer limits).
"""

from __future__ import annotations

from sip_edge.core.proxy import MAGIC
from sip_edge.wire.message import parse_via

from .conftest import CARRIER_DE, EDGE, TRUNK, Harness, invite, response_to


def test_late_180_after_200_is_forwarded_statelessly_to_the_trunk(edge: Harness) -> None:
    core = edge.core
    _, fwd = edge.call(invite(to="030555000"))
    ours = parse_via(fwd.get_all("via")[0])
    assert (ours.host, ours.port) == EDGE and ours.branch.startswith(MAGIC)
    assert core._pending == 1 and core.limits.in_progress("acme") == 1

    ok = edge.send(response_to(fwd, 200, "OK"), CARRIER_DE)
    assert [(m.status, a) for m, a in ok] == [(200, TRUNK)]
    assert core._pending == 0 and core.limits.in_progress("acme") == 0
    assert ours.branch not in core._clients  # the client transaction ended with the 2xx
    assert ours.branch in core._late  # what late responses need, until Timer L
    server = core._server[(parse_via(fwd.get_all("via")[1]).branch, fwd.get("call-id"))]
    assert server.state == "accepted"

    late = edge.send(response_to(fwd, 180, "Ringing"), CARRIER_DE)
    # Forwarded once, to the trunk's Via (rport), with our Via gone: no ACK, no CANCEL.
    assert [(m.status, a) for m, a in late] == [(180, TRUNK)]
    ringing = late[0][0]
    assert ringing.get_all("via") == fwd.get_all("via")[1:]
    assert ringing.get("to") == ok[0][0].get("to")  # same dialog (the 200's To tag)
    assert ringing.get("call-id") == fwd.get("call-id") and ringing.cseq() == (1, "INVITE")
    # The From the customer sent, not the one rewritten for the carrier (CLIP).
    assert ringing.get("from") == ok[0][0].get("from") != fwd.get("from")
    assert core.stats["late_response_forwarded"] == 1
    # A retransmitted 200 goes the same way; a late 100 or error is dropped.
    again = edge.send(response_to(fwd, 200, "OK"), CARRIER_DE)
    assert [(m.status, m.get("from"), a) for m, a in again] == [(200, ok[0][0].get("from"), TRUNK)]
    assert edge.send(response_to(fwd, 486, "Busy Here"), CARRIER_DE) == []

    # Nothing re-opened or counted again.
    assert core._pending == 0 and core.limits.in_progress("acme") == 0
    assert not core._calls
    assert server.state == "accepted"
    # No timer of a revived transaction fires later (no 408 upstream, no CANCEL to the
    # carrier, no 180 or 200 resent): Timer L just ends the server transaction, and
    # the call's branch with it.
    assert edge.advance(edge.now + 200.0) == []
    assert core._pending == 0 and core.limits.in_progress("acme") == 0
    assert not core._server and not core._clients and not core._late


def test_late_180_does_not_free_a_slot_of_another_set_up(edge: Harness) -> None:
    """With a second call ringing, the late 180 of the first leaves its count alone."""
    core = edge.core
    _, first = edge.call(invite(to="030555000"))
    _, second = edge.call(invite(to="030555000"))
    assert core._pending == 2 and core.limits.in_progress("acme") == 2
    edge.send(response_to(first, 200, "OK"), CARRIER_DE)
    assert core._pending == 1 and core.limits.in_progress("acme") == 1

    late = edge.send(response_to(first, 180, "Ringing"), CARRIER_DE)
    assert [(m.status, a) for m, a in late] == [(180, TRUNK)]
    assert late[0][0].get("call-id") == first.get("call-id")
    assert core._pending == 1 and core.limits.in_progress("acme") == 1

    # The second call is still a live set-up: its 200 goes through and ends the count.
    ok = edge.send(response_to(second, 200, "OK"), CARRIER_DE)
    assert [(m.status, m.get("call-id"), a) for m, a in ok] == [(200, second.get("call-id"), TRUNK)]
    assert core._pending == 0 and core.limits.in_progress("acme") == 0


def test_an_answered_call_is_not_held_after_its_2xx(edge: Harness) -> None:
    """Timer L keeps only what late responses need: nothing refers to the call record
    (and its forwarded INVITE) any more, stale timer entries included, and the client
    transaction has let go of the request it will never retransmit."""
    from sip_edge.core.proxy import _Call
    from sip_edge.core.transaction import ClientInvite, ServerInvite

    core = edge.core
    _, fwd = edge.call(invite(to="030555000"))
    branch = parse_via(fwd.get_all("via")[0]).branch
    client = core._clients[branch].client
    assert client.request and any(e[2] is client for e in core._heap)
    edge.send(response_to(fwd, 200, "OK"), CARRIER_DE)
    assert not core._clients and not core._calls
    assert all(isinstance(e[2], ServerInvite | ClientInvite) for e in core._heap)
    assert not any(isinstance(e[2], _Call) for e in core._heap)
    assert client.request == b""
    assert branch in core._late and core.get_timer() is not None  # Timer L still runs
