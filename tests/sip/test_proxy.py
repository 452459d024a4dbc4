"""sip_edge/core/proxy.py without sockets: each decision path, answers, forwarding, dialogs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sip_edge.core.proxy import MAGIC
from sip_edge.wire.message import Message, parse_message, parse_name_addr, parse_via

from .conftest import (
    CARRIER_DE,
    CARRIER_INTL,
    EDGE,
    NPN,
    OTHER_TRUNK,
    PSAP,
    ROOT,
    STRANGER,
    TRUNK,
    Harness,
    acme,
    fixture,
    invite,
    request_from,
    response_to,
)


def reason(msg: Message) -> str:
    """The Reason header with the rules directory written relative (as operators see it)."""
    return (msg.get("reason") or "").replace(f"{ROOT}/", "")


def statuses(out: list[tuple[Message, tuple[str, int]]]) -> list[object]:
    return [m.status or m.method for m, _ in out]


# --- refusals ------------------------------------------------------------------------


def test_blocked_premium_rate_gets_403_with_reason_and_rule(edge: Harness) -> None:
    out = edge.send(invite(to="09001234567"))
    assert len(out) == 1
    resp, addr = out[0]
    assert addr == TRUNK
    assert (resp.status, resp.reason) == (403, "Forbidden")
    assert reason(resp) == ('Q.850;cause=21;text="premium_rate (premium-rate blocks.toml:13)"')
    assert parse_name_addr(resp.get("to") or "").tag  # a final answer carries our To tag


def test_invalid_number_gets_404_cause_1(edge: Harness) -> None:
    (resp, _), *_ = edge.send(invite(to="0190"))
    assert resp.status == 404
    assert (reason(resp)).startswith('Q.850;cause=1;text="invalid_number (unassigned')


def test_rejected_invite_absorbs_ack_and_answers_retransmissions(edge: Harness) -> None:
    data = invite(to="09001234567")
    (resp, _), *_ = edge.send(data)
    again = edge.send(data)  # the INVITE retransmitted: the same answer again
    assert statuses(again) == [403]
    assert again[0][0].get("to") == resp.get("to")
    req = parse_message(data)
    ack = request_from(req, "ACK").replace(
        f"To: {req.get('to')}".encode(), f"To: {resp.get('to')}".encode()
    )
    assert edge.send(ack) == []  # absorbed, nothing forwarded
    assert edge.core.stats["ack_absorbed"] == 1
    assert edge.advance(edge.now + 10) == []  # no retransmission after the ACK (Timer I ends)
    assert not edge.core._server


def test_a_refusal_is_stateless_and_answered_again_until_timer_h(edge: Harness) -> None:
    """RFC 3261 8.2.7: the edge's own refusal keeps no transaction and is never resent by
    a timer; a retransmitted INVITE gets the same answer (same To tag) for 64*T1."""
    data = invite(to="09001234567")
    ((first, _),) = edge.send(data)
    assert not edge.core._server and edge.advance(edge.now + 10) == []
    edge.now += 21  # 31 s after the INVITE: within Timer H
    ((again, _),) = edge.send(data)
    assert again.get("to") == first.get("to")
    assert edge.core.stats["invite_retransmission"] == 1
    edge.advance(edge.now + 2)  # 33 s: forgotten, so decided again, with a new tag
    ((later, _),) = edge.send(data)
    assert later.status == 403 and later.get("to") != first.get("to")
    assert edge.core.stats["refused_premium_rate"] == 2


def test_cancel_of_a_refused_invite_is_answered_200_without_effect(edge: Harness) -> None:
    data = invite(to="09001234567")
    edge.send(data)
    out = edge.send(request_from(parse_message(data), "CANCEL"))
    assert statuses(out) == [200]
    assert out[0][0].cseq()[1] == "CANCEL"


def test_codec_check_488_with_warning(edge: Harness) -> None:
    (resp, _), *_ = edge.send(fixture("invite_g729_only"))
    assert (resp.status, resp.reason) == (488, "Not Acceptable Here")
    assert resp.get("warning") == '305 127.0.0.1 "Incompatible media format"'
    assert (reason(resp)).startswith(
        'Q.850;cause=65;text="codec_not_supported (codecs codecs.toml:'
    )


def test_unknown_account_is_refused(edge: Harness) -> None:
    (resp, _), *_ = edge.send(invite(), OTHER_TRUNK)
    assert resp.status == 403
    assert "unknown_account" in (reason(resp))


# --- allowed calls -------------------------------------------------------------------


def test_allowed_call_is_forwarded_with_via_record_route_and_max_forwards(edge: Harness) -> None:
    out = edge.send(invite(to="030555000"))
    assert [(m.status or m.method, a) for m, a in out] == [(100, TRUNK), ("INVITE", CARRIER_DE)]
    fwd = out[1][0]
    assert fwd.uri == "sip:+4930555000@127.0.0.1:5070;user=phone"
    top = parse_via(fwd.get_all("via")[0])
    assert (top.host, top.port) == EDGE and top.branch.startswith(MAGIC)
    assert parse_via(fwd.get_all("via")[1]).params["rport"] == "5061"
    assert fwd.get("record-route") == "<sip:127.0.0.1:5060;lr>"
    assert fwd.get("max-forwards") == "69"
    assert fwd.body == parse_message(invite()).body


def test_full_call_flow_through_the_edge(edge: Harness) -> None:
    _, fwd = edge.call()
    ringing = edge.send(response_to(fwd, 180, "Ringing"), CARRIER_DE)
    assert [(m.status, a) for m, a in ringing] == [(180, TRUNK)]
    assert len(ringing[0][0].get_all("via")) == 1  # our Via is gone
    ok = edge.send(response_to(fwd, 200, "OK"), CARRIER_DE)
    assert [(m.status, a) for m, a in ok] == [(200, TRUNK)]
    assert edge.core.limits.in_progress("acme") == 0
    # The 2xx retransmitted after the transaction ended: forwarded statelessly by Via.
    assert statuses(edge.send(response_to(fwd, 200, "OK"), CARRIER_DE)) == [200]
    to = ok[0][0].get("to")
    ack = (
        f"ACK sip:carrier@127.0.0.1:5070 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.2:5061;branch=z9hG4bK-ack-1\r\n"
        f"Route: <sip:127.0.0.1:5060;lr>\r\nMax-Forwards: 70\r\n"
        f"From: {fwd.get('from')}\r\nTo: {to}\r\nCall-ID: {fwd.get('call-id')}\r\n"
        f"CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    out = edge.send(ack)
    assert [(m.method, a) for m, a in out] == [("ACK", CARRIER_DE)]
    assert out[0][0].get("route") is None
    # BYE from the carrier towards the customer's Contact, through our Record-Route.
    bye = (
        "BYE sip:alice@127.0.0.2:5061 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-bye-1\r\n"
        "Route: <sip:127.0.0.1:5060;lr>\r\nMax-Forwards: 70\r\n"
        f"From: {to}\r\nTo: {fwd.get('from')}\r\nCall-ID: {fwd.get('call-id')}\r\n"
        "CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    out = edge.send(bye, CARRIER_DE)
    assert [(m.method, a) for m, a in out] == [("BYE", ("127.0.0.2", 5061))]
    bye_fwd = out[0][0]
    assert len(bye_fwd.get_all("via")) == 2
    # ... and its 200 goes back to the carrier by the Via chain.
    back = edge.send(response_to(bye_fwd, 200, "OK"), TRUNK)
    assert [(m.status, a) for m, a in back] == [(200, CARRIER_DE)]
    # A retransmitted BYE gets the same branch (stateless forwarding, RFC 3261 16.11).
    again = edge.send(bye, CARRIER_DE)
    assert again[0][0].get_all("via")[0] == bye_fwd.get_all("via")[0]


def test_error_from_carrier_is_acked_and_forwarded(edge: Harness) -> None:
    _, fwd = edge.call()
    out = edge.send(response_to(fwd, 486, "Busy Here"), CARRIER_DE)
    assert [(m.status or m.method, a) for m, a in out] == [("ACK", CARRIER_DE), (486, TRUNK)]
    ack = out[0][0]
    assert ack.cseq() == (1, "ACK") and ack.get_all("via") == fwd.get_all("via")[:1]
    # A retransmitted 486: ACKed again, not forwarded again.
    assert statuses(edge.send(response_to(fwd, 486, "Busy Here"), CARRIER_DE)) == ["ACK"]
    # Our 486 is retransmitted upstream (Timer G) until the customer ACKs it.
    assert statuses(edge.advance(edge.now + 0.6)) == [486]


def test_in_dialog_request_not_routed_through_us_is_refused(edge: Harness) -> None:
    bye = (
        b"BYE sip:someone@198.51.100.7 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.2:5061;branch=z9hG4bK-bye-x\r\nMax-Forwards: 70\r\n"
        b"From: <sip:a@127.0.0.2>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: nope\r\n"
        b"CSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    )
    assert statuses(edge.send(bye)) == [403]
    routed = bye.replace(b"Max-Forwards", b"Route: <sip:127.0.0.1:5060;lr>\r\nMax-Forwards")
    (resp, _), *_ = edge.send(routed)  # through us, but to an address that is no peer
    assert (resp.status, resp.reason) == (403, "Forbidden Destination")


# --- CLIP (clause 9.6) ---------------------------------------------------------------


def _identity(fwd: Message) -> tuple[str, str | None, str | None]:
    from_uri = parse_name_addr(fwd.get("from") or "").uri
    pai = fwd.get("p-asserted-identity")
    return from_uri, pai, fwd.get("privacy")


CLIP_CASES = [
    # (note, from user, extra headers, expected From URI, expected PAI, privacy)
    (
        "own UPN is presented in From, NPN asserted",
        "+493012345001",
        "",
        "sip:+493012345001@127.0.0.1;user=phone",
        f"<sip:+{NPN}@127.0.0.1;user=phone>",
        None,
    ),
    (
        "foreign UPN falls back to the NPN",
        "+4940999999",
        "",
        f"sip:+{NPN}@127.0.0.1;user=phone",
        f"<sip:+{NPN}@127.0.0.1;user=phone>",
        None,
    ),
    (
        "P-Preferred-Identity wins over From",
        "pbx-user",
        "P-Preferred-Identity: <sip:+493012345001@127.0.0.2>\r\n",
        "sip:+493012345001@127.0.0.1;user=phone",
        f"<sip:+{NPN}@127.0.0.1;user=phone>",
        None,
    ),
    (
        "a P-Asserted-Identity from the customer is never trusted",
        "+4940999999",
        "P-Asserted-Identity: <sip:+493012345001@127.0.0.2>\r\n",
        f"sip:+{NPN}@127.0.0.1;user=phone",
        f"<sip:+{NPN}@127.0.0.1;user=phone>",
        None,
    ),
    (
        "CLIR: From anonymous, identity asserted with Privacy passed on",
        "+493012345001",
        "Privacy: id\r\n",
        "sip:anonymous@anonymous.invalid",
        f"<sip:+{NPN}@127.0.0.1;user=phone>",
        "id",
    ),
    (
        "anonymous From with PPI: CLIR, the UPN is still checked",
        "anonymous",
        "P-Preferred-Identity: <sip:+493012345001@127.0.0.2>\r\nPrivacy: id\r\n",
        "sip:anonymous@anonymous.invalid",
        f"<sip:+{NPN}@127.0.0.1;user=phone>",
        "id",
    ),
    (
        "premium number as UPN is never presented",
        "09001234567",
        "",
        f"sip:+{NPN}@127.0.0.1;user=phone",
        f"<sip:+{NPN}@127.0.0.1;user=phone>",
        None,
    ),
]


@pytest.mark.parametrize(
    ("note", "from_user", "extra", "want_from", "want_pai", "privacy"),
    CLIP_CASES,
    ids=[c[0] for c in CLIP_CASES],
)
def test_clip_towards_carrier_with_identity_in_from(
    edge: Harness,
    note: str,
    from_user: str,
    extra: str,
    want_from: str,
    want_pai: str,
    privacy: str | None,
) -> None:
    _, fwd = edge.call(invite(from_user=from_user, extra=extra))
    assert _identity(fwd) == (want_from, want_pai, privacy), note
    assert fwd.get("p-preferred-identity") is None
    assert fwd.count("p-asserted-identity") == 1
    assert parse_name_addr(fwd.get("from") or "").tag  # the From tag survives


def test_carrier_without_upn_gets_the_npn_in_pai_and_from(edge: Harness) -> None:
    out = edge.send(invite(to="+33123456789"))
    fwd, addr = out[1]
    assert addr == CARRIER_INTL
    assert _identity(fwd) == (
        f"sip:+{NPN}@127.0.0.1;user=phone",
        f"<sip:+{NPN}@127.0.0.1;user=phone>",
        None,
    )


def test_carrier_wanting_the_presented_number_in_pai(
    rules_copy: object, make_edge: Callable[..., Harness]
) -> None:
    import pathlib

    from policy.percall.runtime import PolicyRuntime

    path = pathlib.Path(str(rules_copy)) / "carriers.toml"
    text = path.read_text().replace(
        'carries_upn = false\nidentity_header = "p-asserted-identity"',
        'carries_upn = true\nidentity_header = "p-asserted-identity"',
    )
    path.write_text(text)
    edge = Harness(PolicyRuntime(str(rules_copy), 0.0))
    out = edge.send(invite(to="+33123456789", from_user="+493012345001"))
    fwd = out[1][0]
    assert _identity(fwd) == (
        f"sip:+{NPN}@127.0.0.1;user=phone",
        "<sip:+493012345001@127.0.0.1;user=phone>",
        None,
    )


# --- emergency (clauses 9.3, 10) -----------------------------------------------------


def test_emergency_112_goes_to_the_psap_with_rewritten_uri_npn_and_location(
    edge: Harness,
) -> None:
    out = edge.send(
        invite(
            to="112",
            from_user="anonymous",
            display='"Anonymous" ',
            extra="Privacy: id\r\nP-Asserted-Identity: <sip:+4940111@x>\r\n"
            "Geolocation: <cid:fake@pbx>\r\n",
        )
    )
    assert [(m.status or m.method, a) for m, a in out] == [(100, TRUNK), ("INVITE", PSAP)]
    fwd = out[1][0]
    assert fwd.uri == "sip:4911203001@127.0.0.1:5090"  # test-berlin-mitte routing_112
    assert parse_name_addr(fwd.get("from") or "").uri == f"sip:+{NPN}@127.0.0.1;user=phone"
    assert fwd.get_all("p-asserted-identity") == [f"<sip:+{NPN}@127.0.0.1;user=phone>"]
    assert fwd.get("privacy") is None
    assert fwd.get_all("geolocation") == [
        '<urn:x-callpolicy:site:acme>;address="Unter den Linden 1, 10117 Berlin";ags=11000000'
    ]
    assert fwd.get("geolocation-routing") == "no"


def test_emergency_110_uses_its_own_routing_number(edge: Harness) -> None:
    fwd = edge.send(invite(to="110"))[1][0]
    assert fwd.uri == "sip:4911003001@127.0.0.1:5090"


def test_emergency_is_never_blocked_by_suspension_rate_or_overload(
    make_edge: Callable[..., Harness],
) -> None:
    edge = make_edge(max_in_flight=1)
    edge.core.set_account(acme(dialer_flag="suspend"))
    assert statuses(edge.send(invite())) == [403]  # suspended: ordinary calls refused
    for _ in range(20):  # far over 5/s, 10 concurrent and the in-flight bound
        assert statuses(edge.send(invite(to="112"))) == [100, "INVITE"]
    assert edge.core.limits.in_progress("acme") == 0  # never counted


def test_emergency_from_an_unknown_account_still_routes(edge: Harness) -> None:
    out = edge.send(invite(to="112"), OTHER_TRUNK)
    fwd = out[1][0]
    assert fwd.uri == "sip:49112990000@127.0.0.1:5090"  # the default area
    assert fwd.get("geolocation") is None


def test_emergency_with_a_disallowed_codec_still_routes(edge: Harness) -> None:
    data = fixture("invite_g729_only").replace(b"+4930555000", b"112")
    assert statuses(edge.send(data)) == [100, "INVITE"]


def test_site_address_cannot_inject_headers(edge: Harness) -> None:
    from policy.state.accounts import Site

    site = Site(address='Evil"\r\nX-Injected: 1', area_code="30", emergency_area="test-default")
    edge.core.set_account(acme(site=site))
    fwd = edge.send(invite(to="112"))[1][0]
    assert fwd.get("x-injected") is None
    assert fwd.get("geolocation") == '<urn:x-callpolicy:site:acme>;address="Evil\\"  X-Injected: 1"'


# --- power dialers (clause 7.2) ------------------------------------------------------


def test_attempts_per_second_limit_on_a_virtual_clock(edge: Harness) -> None:
    results = [statuses(edge.send(invite()))[0] for _ in range(7)]
    assert results == [100] * 5 + [403, 403]
    (resp, _), *_ = edge.send(invite())
    assert reason(resp) == ('Q.850;cause=21;text="power_dialer (power-dialer power_dialer.toml:6)"')
    edge.now += 1.0
    assert statuses(edge.send(invite()))[0] == 100


def test_concurrent_setups_limit(edge: Harness) -> None:
    forwarded = []
    for i in range(11):
        edge.now += 0.25  # 4/s: under the rate limit
        out = edge.send(invite())
        if i < 10:
            forwarded.append(out[1][0])
        else:
            assert statuses(out) == [403]
    assert edge.core.limits.in_progress("acme") == 10
    edge.send(response_to(forwarded[0], 200, "OK"), CARRIER_DE)  # one set-up is over
    edge.now += 0.25
    assert statuses(edge.send(invite())) == [100, "INVITE"]


def test_throttle_halves_the_limits(edge: Harness) -> None:
    edge.core.set_account(acme(dialer_flag="throttle"))
    results = [statuses(edge.send(invite()))[0] for _ in range(4)]
    assert results == [100, 100, 403, 403]


def test_window_totals_become_an_escalate_effect(edge: Harness) -> None:
    for _ in range(8):
        edge.send(invite(to="09001234567"))  # blocked calls count as attempts too
    assert edge.core.effects() == []
    edge.advance(edge.now + 61)
    effects = edge.core.effects()
    assert len(effects) == 1
    (total,) = effects[0].totals
    assert (total.account, total.attempts, total.rejected) == ("acme", 8, 3)
    assert effects[0].rules.max_attempts_per_second == 5


# --- CANCEL --------------------------------------------------------------------------


def test_cancel_of_a_ringing_call(edge: Harness) -> None:
    data = invite()
    _, fwd = edge.call(data)
    edge.send(response_to(fwd, 180, "Ringing"), CARRIER_DE)
    out = edge.send(request_from(parse_message(data), "CANCEL"))
    assert [(m.status or m.method, a) for m, a in out] == [(200, TRUNK), ("CANCEL", CARRIER_DE)]
    cancel = out[1][0]
    assert cancel.uri == fwd.uri and cancel.get_all("via") == fwd.get_all("via")[:1]
    assert cancel.cseq() == (1, "CANCEL")
    assert edge.send(response_to(cancel, 200, "OK"), CARRIER_DE) == []
    out = edge.send(response_to(fwd, 487, "Request Terminated"), CARRIER_DE)
    assert [(m.status or m.method, a) for m, a in out] == [("ACK", CARRIER_DE), (487, TRUNK)]
    assert edge.core.limits.in_progress("acme") == 0


def test_cancel_before_a_provisional_waits_for_one(edge: Harness) -> None:
    data = invite()
    _, fwd = edge.call(data)
    out = edge.send(request_from(parse_message(data), "CANCEL"))
    assert statuses(out) == [200]  # RFC 3261 9.1: no CANCEL before a provisional
    out = edge.send(response_to(fwd, 183, "Session Progress"), CARRIER_DE)
    assert [(m.status or m.method, a) for m, a in out] == [(183, TRUNK), ("CANCEL", CARRIER_DE)]


def test_cancel_of_an_unknown_transaction_is_481(edge: Harness) -> None:
    cancel = request_from(parse_message(invite()), "CANCEL")
    assert statuses(edge.send(cancel)) == [481]


def test_only_the_invites_sender_may_cancel_it(edge: Harness) -> None:
    data = invite()
    _, fwd = edge.call(data)
    edge.send(response_to(fwd, 180, "Ringing"), CARRIER_DE)
    cancel = request_from(parse_message(data), "CANCEL")
    assert statuses(edge.send(cancel, OTHER_TRUNK)) == [481]
    assert statuses(edge.send(cancel)) == [200, "CANCEL"]


# --- timers --------------------------------------------------------------------------


def test_silent_carrier_timer_a_retransmits_then_b_answers_408(edge: Harness) -> None:
    start = edge.now
    edge.call()
    sent = []
    while (deadline := edge.core.get_timer()) is not None and deadline < start + 40:
        edge.now = deadline
        edge.core.handle_timer(deadline)
        sent += [(round(deadline - start, 2), m.status or m.method) for m, _ in edge.out()]
    invites = [t for t, what in sent if what == "INVITE"]
    assert invites == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]  # Timer A doubles
    assert (32.0, 408) in sent  # Timer B = 64*T1
    assert edge.core.limits.in_progress("acme") == 0


def test_over_tcp_the_final_answer_is_not_retransmitted(edge: Harness) -> None:
    tcp = invite().replace(b"SIP/2.0/UDP 127.0.0.2", b"SIP/2.0/TCP 127.0.0.2")
    _, fwd = edge.call(tcp)
    assert statuses(edge.send(response_to(fwd, 486, "Busy Here"), CARRIER_DE)) == ["ACK", 486]
    # RFC 3261 17.2.1: Timer G only on unreliable transports; H still ends it unACKed.
    assert edge.advance(edge.now + 31) == []
    assert edge.core._server
    edge.advance(edge.now + 2)
    assert not edge.core._server
    # Acknowledged, it ends at the next tick: Timer I is zero on a reliable transport.
    tcp = invite(branch="z9hG4bK-tcp2", call_id="tcp2@x").replace(b"/UDP", b"/TCP")
    _, fwd = edge.call(tcp)
    ((busy, _),) = edge.send(response_to(fwd, 486, "Busy Here"), CARRIER_DE)[1:]
    req = parse_message(tcp)
    ack = request_from(req, "ACK").replace(
        f"To: {req.get('to')}".encode(), f"To: {busy.get('to')}".encode()
    )
    assert edge.send(ack) == []
    assert edge.core.stats["ack_absorbed"] == 1
    edge.advance(edge.now + edge.core.settings.timer_tick)
    assert not edge.core._server


def test_timers_fire_on_the_tick_grid_together(edge: Harness) -> None:
    tick = edge.core.settings.timer_tick
    edge.now = 1000.01
    _, one = edge.call(invite(branch="z9hG4bK-g1", call_id="g1@x"))
    edge.now = 1000.04
    _, two = edge.call(invite(branch="z9hG4bK-g2", call_id="g2@x"))
    for fwd in (one, two):
        edge.send(response_to(fwd, 486, "Busy Here"), CARRIER_DE)
    deadline = edge.core.get_timer()
    assert deadline is not None and deadline >= 1000.51
    assert deadline / tick == int(deadline / tick)  # on the grid, at most one tick late
    assert deadline - 1000.51 < tick
    edge.now = deadline
    edge.core.handle_timer(deadline)
    assert statuses([(m, a) for m, a in edge.out()]) == [486, 486]  # one wake-up, both G


def test_ringing_too_long_timer_c_cancels(make_edge: Callable[..., Harness]) -> None:
    from sip_edge.core.transaction import TimerConfig

    edge = make_edge(timers=TimerConfig(c=10.0))
    _, fwd = edge.call()
    edge.send(response_to(fwd, 180, "Ringing"), CARRIER_DE)
    sent = edge.advance(edge.now + 10.2)
    assert [(m.method, a) for m, a in sent] == [("CANCEL", CARRIER_DE)]
    sent = edge.advance(edge.now + 0.5)  # Timer E: retransmitted until answered
    assert [(m.method, a) for m, a in sent] == [("CANCEL", CARRIER_DE)]


def test_provisional_stops_retransmission_and_tables_empty_at_the_end(edge: Harness) -> None:
    _, fwd = edge.call()
    edge.send(response_to(fwd, 180, "Ringing"), CARRIER_DE)
    assert edge.advance(edge.now + 5) == []
    edge.send(response_to(fwd, 200, "OK"), CARRIER_DE)
    edge.advance(edge.now + 100)
    assert edge.core.get_timer() is None
    assert not edge.core._server and not edge.core._clients and not edge.core._calls


# --- trust and robustness ------------------------------------------------------------


def test_unknown_peers_are_dropped(edge: Harness) -> None:
    assert edge.send(invite(), STRANGER) == []
    assert edge.core.stats["dropped_unknown_peer"] == 1


def test_initial_invite_from_a_carrier_is_refused(edge: Harness) -> None:
    assert statuses(edge.send(invite(), CARRIER_DE)) == [403]


def test_options_is_answered(edge: Harness) -> None:
    (resp, addr), *_ = edge.send(fixture("options"))
    assert (resp.status, addr) == (200, TRUNK)
    assert "INVITE" in (resp.get("allow") or "")


def test_max_forwards_zero_is_483(edge: Harness) -> None:
    assert statuses(edge.send(invite(max_forwards="0"))) == [483]


def test_loop_is_482(edge: Harness) -> None:
    data = invite()
    req = parse_message(data)
    branch = edge.core._branch(req, "77")
    looped = data.replace(
        b"Max-Forwards", f"Via: SIP/2.0/UDP 127.0.0.1:5060;branch={branch}\r\nMax-Forwards".encode()
    )
    assert statuses(edge.send(looped)) == [482]


def test_a_request_spiralling_back_is_stopped(edge: Harness) -> None:
    _, fwd = edge.call()
    # A carrier may not place calls through the edge: the looped INVITE is refused.
    assert statuses(edge.send(fwd.serialize(), CARRIER_DE)) == [403]
    # Sent back by a trunk: its Request-URI changed, so it spirals once (RFC 3261 16.3) ...
    out = edge.send(fwd.serialize(), TRUNK)
    assert statuses(out) == [100, "INVITE"]
    # ... and the second time round it carries our Via with the branch it would get: 482.
    (resp, _), *_ = edge.send(out[1][0].serialize(), TRUNK)
    assert (resp.status, resp.reason) == (482, "Loop Detected")


def test_other_methods(edge: Harness) -> None:
    bye = request_from(parse_message(invite()), "BYE")
    assert statuses(edge.send(bye)) == [481]
    msg = request_from(parse_message(invite()), "MESSAGE")
    assert statuses(edge.send(msg)) == [405]


def test_overload_sheds_with_503(make_edge: Callable[..., Harness]) -> None:
    edge = make_edge(max_in_flight=2)
    edge.core.set_account(acme())
    assert statuses(edge.send(invite())) == [100, "INVITE"]
    assert statuses(edge.send(invite())) == [100, "INVITE"]
    (resp, _), *_ = edge.send(invite())
    assert (resp.status, resp.get("retry-after")) == (503, "5")


def test_shedding_refuses_new_forwarded_calls_only(edge: Harness) -> None:
    """While the shell is behind: 503 for calls that would be forwarded; refusals and
    emergency calls are answered as ever (clause 9.3: never blocked by load)."""
    edge.core.set_shedding(True)
    (resp, _), *_ = edge.send(invite())
    assert (resp.status, resp.get("retry-after")) == (503, "5")
    assert statuses(edge.send(invite(to="09001234567"))) == [403]
    assert statuses(edge.send(invite(to="112"))) == [100, "INVITE"]
    assert edge.core.stats["shedding_started"] == 1 and edge.core.stats["overload_503"] == 1
    edge.core.set_shedding(False)
    assert statuses(edge.send(invite())) == [100, "INVITE"]


def test_transaction_table_is_bounded(make_edge: Callable[..., Harness]) -> None:
    edge = make_edge(max_in_flight=100, max_transactions=200)
    for i in range(2000):
        edge.now += 0.01
        edge.send(invite(to="09001234567", from_user=f"+49301234{i}"))
    assert len(edge.core._answered) <= 200
    assert edge.core.stats["evicted"] > 0


@pytest.mark.parametrize(
    ("name", "status_line"),
    [
        ("invite_bad_cseq", "SIP/2.0 400 Bad CSeq"),
        ("invite_truncated", "SIP/2.0 400 Truncated Body"),
        ("invite_unsupported_scheme", "SIP/2.0 416 Unsupported URI Scheme"),
        ("invite_bad_header_line", "SIP/2.0 400 Bad Header Line"),
        ("invite_bad_content_length", "SIP/2.0 400 Bad Content-Length"),
        ("invite_missing_call_id", "SIP/2.0 400 Missing Call-ID"),
        ("bad_request_line", "SIP/2.0 505 Version Not Supported"),
    ],
)
def test_malformed_requests_get_exact_answers(edge: Harness, name: str, status_line: str) -> None:
    out = edge.raw()
    edge.core.receive(fixture(name), TRUNK, edge.now)
    out = edge.raw()
    assert len(out) == 1
    assert out[0][0].split(b"\r\n", 1)[0].decode() == status_line
    assert out[0][1] == TRUNK


@pytest.mark.parametrize(
    "data",
    [
        fixture("garbage"),
        fixture("invite_basic").replace(b"Via: SIP/2.0/UDP 127.0.0.2:5061", b"Via: x"),
        fixture("invite_missing_call_id").replace(b"INVITE sip", b"ACK sip"),
    ],
)
def test_unanswerable_input_is_dropped(edge: Harness, data: bytes) -> None:
    assert edge.send(data) == []
    assert edge.core.stats["dropped_unparseable"] == 1


def test_keepalives_and_huge_datagrams(edge: Harness) -> None:
    assert edge.send(b"\r\n\r\n") == []
    assert edge.send(b"INVITE " + b"x" * 70_000) == []


def test_parse_fixtures_whole(edge: Harness) -> None:
    for name in ("invite_basic", "invite_compact", "invite_folded", "invite_multi_via"):
        out = edge.send(fixture(name))
        assert statuses(out) == [100, "INVITE"], name
        edge.now += 1


# --- changes without restart ---------------------------------------------------------


def test_account_change_applies_to_the_next_invite(edge: Harness) -> None:
    assert statuses(edge.send(invite(to="+4930555000"))) == [100, "INVITE"]
    edge.core.set_account(acme(blocked_prefixes=("4930555",), version=2))
    (resp, _), *_ = edge.send(invite(to="+4930555000"))
    assert resp.status == 403 and "customer_block" in (reason(resp))


def test_rules_reload_applies_and_calls_in_progress_go_on(rules_copy: object) -> None:
    import pathlib

    from policy.percall.runtime import PolicyRuntime

    runtime = PolicyRuntime(str(rules_copy), 0.0)
    edge = Harness(runtime)
    _, fwd = edge.call()
    path = pathlib.Path(str(rules_copy)) / "carriers.toml"
    path.write_text(path.read_text().replace("127.0.0.1:5070", "127.0.0.1:5080"))
    runtime.reload(1.0)
    out = edge.send(invite())
    assert out[1][1] == ("127.0.0.1", 5080)  # the next call takes the new route
    # The call in progress still completes through the old carrier address.
    ok = edge.send(response_to(fwd, 200, "OK"), CARRIER_DE)
    assert statuses(ok) == [200]


@pytest.mark.parametrize(
    ("extra", "unsupported"),
    [
        ("Require: 100rel, timer\r\n", None),
        ("Require: 100rel, foo\r\n", "foo"),
        ("Proxy-Require: bar\r\nRequire: foo\r\n", "foo, bar"),
    ],
)
def test_option_tags_of_an_initial_invite(
    edge: Harness, extra: str, unsupported: str | None
) -> None:
    """RFC 3261 8.2.2.3, 16.3: unsupported option tags get 420 listing them, never a
    forwarded INVITE; the ones the edge carries end to end go through."""
    out = edge.send(invite(extra=extra))
    if unsupported is None:
        assert statuses(out) == [100, "INVITE"]
        assert "100rel" in (out[1][0].get("require") or "")
    else:
        assert statuses(out) == [420]
        assert out[0][0].get("unsupported") == unsupported
