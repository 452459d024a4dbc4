"""sip_edge/core/redirect.py without sockets: the edge as a redirect server (RFC 3261 8.3).

Allowed calls get 302 with the route in Contact and the identity to assert; refusals are
proxy mode's own; 110/112 get 302 to the PSAP. The twin test at the end holds redirect
mode to proxy mode: for the same INVITE, the same refusal, or a 302 naming exactly what
proxy mode forwards (Request-URI, From, P-Asserted-Identity, Privacy, location).
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable, Mapping

import pytest

from policy import DecisionLog, DecisionRecorder, read_events
from policy.percall.runtime import PolicyRuntime
from policy.state.accounts import Suspension
from sip_edge.__main__ import core_settings
from sip_edge.config import load_config
from sip_edge.core.proxy import EdgeCore
from sip_edge.core.redirect import ALLOW, RedirectCore, new_core
from sip_edge.wire.message import Message, NameAddr, parse_message, parse_name_addr, uri_hostport

from .conftest import (
    CARRIER_DE,
    CARRIER_INTL,
    NPN,
    OTHER_TRUNK,
    PSAP,
    TRUNK,
    Harness,
    acme,
    fixture,
    invite,
    request_from,
    response_to,
)
from .test_proxy import CLIP_CASES

OWN = "493012345001"
SUSPENDED = Suspension(ground="unpaid", since=0.0, by="op")
CLIR_GEO = "Privacy: id\r\nGeolocation: <cid:x@pbx>\r\n"


@pytest.fixture
def redirect(runtime: PolicyRuntime) -> Harness:
    """A fresh core in redirect mode over the shipped rules."""
    return Harness(runtime, mode="redirect")


def only(out: list[tuple[Message, tuple[str, int]]]) -> Message:
    """The one message sent, which must go back to the trunk."""
    assert len(out) == 1, out
    msg, addr = out[0]
    assert addr == TRUNK
    return msg


def contacts(msg: Message) -> list[str]:
    return msg.get_all("contact")


# --- allowed: 302 with the route and the identity ------------------------------------


def test_the_shell_builds_the_core_of_its_mode(
    runtime: PolicyRuntime, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "edge.toml"
    for mode, core in (("proxy", EdgeCore), ("redirect", RedirectCore)):
        path.write_text(f'mode = "{mode}"\npsap = "127.0.0.1:5090"\n')
        settings = core_settings(load_config(str(path)), 5060, None, 0)
        assert settings.mode == mode
        assert type(new_core(settings, runtime)) is core


def test_allowed_call_gets_302_with_the_carrier_route_and_the_identity(
    redirect: Harness,
) -> None:
    resp = only(redirect.send(invite(to="030555000", from_user=f"+{OWN}")))
    assert (resp.status, resp.reason) == (302, "Moved Temporarily")
    assert contacts(resp) == [f"<sip:+4930555000@{CARRIER_DE[0]}:{CARRIER_DE[1]};user=phone>"]
    # carrier-de carries UPNs in From: the own number shown, the NPN asserted (clause 9.6)
    assert resp.get("callpolicy-from") == f'"Alice" <sip:+{OWN}@127.0.0.1;user=phone>'
    assert resp.get_all("p-asserted-identity") == [f"<sip:+{NPN}@127.0.0.1;user=phone>"]
    assert resp.get("privacy") is None
    assert parse_name_addr(resp.get("to") or "").tag  # a final answer carries our To tag
    assert (resp.get("via") or "").endswith(";rport=5061")  # RFC 3581, as refusals
    assert redirect.core.stats["redirected"] == 1
    assert redirect.core.in_flight == 0 and not redirect.core._server  # stateless


def test_clir_keeps_privacy_and_an_anonymous_from(redirect: Harness) -> None:
    resp = only(redirect.send(invite(extra="Privacy: id\r\n")))
    assert resp.get("callpolicy-from") == '"Anonymous" <sip:anonymous@anonymous.invalid>'
    assert resp.get_all("p-asserted-identity") == [f"<sip:+{NPN}@127.0.0.1;user=phone>"]
    assert resp.get_all("privacy") == ["id"]


def test_a_number_the_account_may_not_show_falls_back_to_the_npn(redirect: Harness) -> None:
    resp = only(redirect.send(invite(from_user="+4940999999")))
    assert resp.get("callpolicy-from") == f'"Alice" <sip:+{NPN}@127.0.0.1;user=phone>'
    assert resp.get_all("p-asserted-identity") == [f"<sip:+{NPN}@127.0.0.1;user=phone>"]


def test_carrier_without_upn_gets_the_npn(redirect: Harness) -> None:
    resp = only(redirect.send(invite(to="+33123456789")))
    assert contacts(resp) == [f"<sip:+33123456789@{CARRIER_INTL[0]}:{CARRIER_INTL[1]};user=phone>"]
    assert resp.get("callpolicy-from") == f'"Alice" <sip:+{NPN}@127.0.0.1;user=phone>'


def test_the_302_carries_its_decision_id_and_is_logged(
    redirect: Harness, tmp_path: pathlib.Path
) -> None:
    recorder = DecisionRecorder("edge1", 0, DecisionLog(str(tmp_path / "d.jsonl")), 4)
    redirect.core.decisions = recorder
    ids = [only(redirect.send(invite(to=to))).get("callpolicy-decision") for to in
           ("+4930555000", "09001234567", "112")]  # fmt: skip
    recorder.close()
    lines = list(read_events([str(tmp_path / "d.jsonl")]))
    assert [e.id for e in lines] == ids and all(ids)
    assert [(e.verdict, e.route) for e in lines] == [
        ("allow", "carrier-de"), ("block", ""), ("emergency", "4911203001"),
    ]  # fmt: skip


# --- refused: proxy mode's answer ----------------------------------------------------


@pytest.mark.parametrize(("to", "status"), [("09001234567", 403), ("11833", 403), ("0190", 404)])
def test_refusals_are_proxy_modes(
    runtime: PolicyRuntime, redirect: Harness, to: str, status: int
) -> None:
    data = invite(to=to)
    theirs = only(Harness(runtime).send(data))
    ours = only(redirect.send(data))
    assert ours.status == status
    assert ours.serialize() == theirs.serialize()  # Reason naming the rule, To tag and all


def test_suspension_rate_and_codec_refuse_as_in_proxy_mode(
    make_edge: Callable[..., Harness],
) -> None:
    edge = make_edge(mode="redirect")
    results = [only(edge.send(invite())).status for _ in range(7)]
    assert results == [302] * 5 + [403, 403]  # 5 attempts/s (clause 7.2)
    edge.now += 1.0
    assert only(edge.send(fixture("invite_g729_only"))).status == 488  # clause 2
    edge.core.set_account(acme(dialer_flag="suspend"))
    assert only(edge.send(invite())).status == 403
    edge.core.set_account(acme(suspension=SUSPENDED, version=7001))  # compiled per version
    assert only(edge.send(invite())).status == 403


def test_an_unknown_account_is_refused_and_a_carrier_may_not_call(redirect: Harness) -> None:
    ((resp, addr),) = redirect.send(invite(), OTHER_TRUNK)
    assert (resp.status, addr) == (403, OTHER_TRUNK)
    (resp, addr), *_ = redirect.send(invite(), CARRIER_DE)
    assert (resp.status, addr) == (403, CARRIER_DE)


def test_never_shed_nothing_in_flight(make_edge: Callable[..., Harness]) -> None:
    """A 302 holds no state: neither max_in_flight nor the shell's shedding applies."""
    edge = make_edge(mode="redirect", max_in_flight=1)
    edge.core.set_shedding(True)
    for _ in range(3):
        assert only(edge.send(invite())).status == 302
        edge.now += 0.5
    assert edge.core.stats["overload_503"] == 0


# --- emergency: 302 to the PSAP, never refused ---------------------------------------


def test_112_gets_302_to_the_psap_with_its_fallback_npn_and_location(redirect: Harness) -> None:
    resp = only(
        redirect.send(
            invite(to="112", from_user="anonymous", display='"Anonymous" ',
                   extra="Privacy: id\r\nP-Asserted-Identity: <sip:+4940111@x>\r\n"
                   "Geolocation: <cid:fake@pbx>\r\n")
        )
    )  # fmt: skip
    assert resp.status == 302
    host, port = PSAP
    assert contacts(resp) == [
        f"<sip:4911203001@{host}:{port}>;q=1.0",  # test-berlin-mitte routing_112
        f"<sip:4911203002@{host}:{port}>;q=0.5",  # and its fallback (clause 9.3)
    ]
    assert resp.get("callpolicy-from") == f"<sip:+{NPN}@127.0.0.1;user=phone>"
    assert resp.get_all("p-asserted-identity") == [f"<sip:+{NPN}@127.0.0.1;user=phone>"]
    assert resp.get("privacy") is None  # CLIR overridden (NotrufV)
    assert resp.get_all("geolocation") == [
        '<urn:x-callpolicy:site:acme>;address="Unter den Linden 1, 10117 Berlin";ags=11000000'
    ]
    assert resp.get("geolocation-routing") == "no"
    assert redirect.core.stats["redirected_emergency"] == 1


def test_emergency_is_never_refused(make_edge: Callable[..., Harness]) -> None:
    edge = make_edge(mode="redirect")
    edge.core.set_account(acme(dialer_flag="suspend"))
    for _ in range(20):  # suspended, and far over 5 attempts/s
        assert only(edge.send(invite(to="110"))).status == 302
    g729 = fixture("invite_g729_only").replace(b"+4930555000", b"112")
    assert only(edge.send(g729)).status == 302  # no codec check either
    (resp, _), *_ = edge.send(invite(to="112"), OTHER_TRUNK)  # no account: default area
    assert contacts(resp)[0] == f"<sip:49112990000@{PSAP[0]}:{PSAP[1]}>;q=1.0"
    assert resp.get("geolocation") is None and resp.get("p-asserted-identity") is None


# --- stateless: retransmissions, ACK, CANCEL -----------------------------------------


@pytest.mark.parametrize("fast", [True, False], ids=["fast-path ACK", "full-path ACK"])
def test_retransmission_ack_and_cancel(redirect: Harness, fast: bool) -> None:
    data = invite()
    resp = only(redirect.send(data))
    again = only(redirect.send(data))  # the INVITE retransmitted: the same answer
    assert again.serialize() == resp.serialize()
    req = parse_message(data)
    ack = request_from(req, "ACK").replace(
        f"To: {req.get('to')}".encode(), f"To: {resp.get('to')}".encode()
    )
    if not fast:
        ack = ack.replace(b"Max-Forwards: 70", b"max-forwards:   70")  # not canonical
    assert redirect.send(ack) == []
    assert redirect.core.stats["ack_absorbed"] == 1
    (ok, _), *_ = redirect.send(request_from(req, "CANCEL"))
    assert ok.status == 200  # RFC 3261 9.2: answered already, no effect
    assert redirect.advance(redirect.now + 40) == []  # no timer ever resends anything
    assert redirect.send(data)[0][0].status == 302  # past 64*T1: a new attempt


# --- no dialog passes a redirect server ----------------------------------------------


def test_other_requests_and_responses(redirect: Harness) -> None:
    (opt, _), *_ = redirect.send(fixture("options"))
    assert (opt.status, opt.get("allow")) == (200, ALLOW)
    req = parse_message(invite())
    assert only(redirect.send(request_from(req, "BYE"))).status == 481
    in_dialog = invite().replace(b"@127.0.0.1>\r\n", b"@127.0.0.1>;tag=theirs\r\n", 1)
    assert b";tag=theirs" in in_dialog
    assert only(redirect.send(in_dialog)).status == 481  # a re-INVITE: no dialog here
    routed = request_from(req, "BYE", "Route: <sip:127.0.0.1:5060;lr>\r\n").replace(
        b"\r\nCall-ID", b";tag=x\r\nCall-ID"
    )
    assert only(redirect.send(routed)).status == 481  # never relayed, even routed via us
    (message, _), *_ = redirect.send(request_from(req, "MESSAGE"))
    assert (message.status, message.get("allow")) == (405, ALLOW)
    assert redirect.send(request_from(req, "ACK")) == []  # not ours: dropped
    assert redirect.core.stats["ack_dropped"] == 1
    assert redirect.send(response_to(req, 200, "OK"), CARRIER_DE) == []
    assert redirect.core.stats["response_not_ours"] == 1


# --- twins: redirect mode names what proxy mode forwards -----------------------------

#: (note, dialled, From user, extra headers, trunk, account changes)
_Case = tuple[str, str, str, str, tuple[str, int], Mapping[str, object]]
TWIN_CASES: list[_Case] = [
    ("national E.164", "+4930555000", f"+{OWN}", "", TRUNK, {}),
    ("national 0", "030555001", f"+{OWN}", "", TRUNK, {}),
    ("local number, area code added", "5550001", f"+{OWN}", "", TRUNK, {}),
    ("international, NPN", "+33123456789", f"+{OWN}", "", TRUNK, {}),
    ("international with CLIR", "0033123456789", f"+{OWN}", "Privacy: id\r\n", TRUNK, {}),
    ("extension presented", "+4989123456", "201", "", TRUNK, {"presentation": {"201": OWN}}),
    ("premium rate", "09001234567", f"+{OWN}", "", TRUNK, {}),
    ("premium rate lifted", "09001234567", f"+{OWN}", "", TRUNK, {"lifted": ("premium-rate",)}),
    ("directory", "11833", f"+{OWN}", "", TRUNK, {}),
    ("directory 11822 (an exception)", "11822", f"+{OWN}", "", TRUNK, {}),
    ("customer block", "+4930555000", f"+{OWN}", "", TRUNK, {"blocked_prefixes": ("4930",)}),
    ("country block", "+33123456789", f"+{OWN}", "", TRUNK, {"blocked_countries": ("33",)}),
    ("invalid", "0190", f"+{OWN}", "", TRUNK, {}),
    ("call-by-call prefix", "01012345", f"+{OWN}", "", TRUNK, {}),
    ("power dialer suspended", "+4930555000", f"+{OWN}", "", TRUNK, {"dialer_flag": "suspend"}),
    ("suspended by the operator", "+4930555000", f"+{OWN}", "", TRUNK, {"suspension": SUSPENDED}),
    ("112 suspended by the operator", "112", f"+{OWN}", "", TRUNK, {"suspension": SUSPENDED}),
    ("112 under CLIR", "112", "anonymous", CLIR_GEO, TRUNK, {}),
    ("110 suspended", "110", f"+{OWN}", "", TRUNK, {"dialer_flag": "suspend"}),
    ("112, unknown account", "112", f"+{OWN}", "", OTHER_TRUNK, {}),
    ("unknown account", "+4930555000", f"+{OWN}", "", OTHER_TRUNK, {}),
]
TWIN_CASES += [
    (f"CLIP: {c[0]}", "+4930555000", str(c[1]), str(c[2]), TRUNK, {}) for c in CLIP_CASES
]


def _name_addr(value: str | None) -> str:
    """A From value without its parameters (the tag is the caller's)."""
    name = parse_name_addr(value or "")
    return str(NameAddr(name.display, name.uri, ""))


def _asserted(msg: Message, location: str = "geolocation") -> tuple[object, ...]:
    return (
        msg.get_all("p-asserted-identity"),
        msg.get_all("privacy"),
        msg.get_all(location),
        msg.get_all("geolocation-routing") if msg.get(location) else [],
    )


@pytest.mark.parametrize(
    ("note", "to", "from_user", "extra", "trunk", "changes"),
    TWIN_CASES,
    ids=[c[0] for c in TWIN_CASES],
)
def test_redirect_mode_names_what_proxy_mode_forwards(
    runtime: PolicyRuntime,
    note: str,
    to: str,
    from_user: str,
    extra: str,
    trunk: tuple[str, int],
    changes: Mapping[str, object],
) -> None:
    proxy, redirect = Harness(runtime), Harness(runtime, mode="redirect")
    # The runtime compiles an account once per version: each case's account its own.
    version = 8000 + [c[0] for c in TWIN_CASES].index(note)
    for h in (proxy, redirect):
        h.core.set_account(acme(version=version, **changes))
    data = invite(to=to, from_user=from_user, extra=extra)
    forwarded = proxy.send(data, trunk)
    ((answer, addr),) = redirect.send(data, trunk)
    assert addr == trunk
    if forwarded[0][0].status != 100:  # refused: the same answer, byte for byte
        assert [m.serialize() for m, _ in forwarded] == [answer.serialize()], note
        return
    (fwd, dest) = forwarded[1]
    assert answer.status == 302, note
    first = parse_name_addr(contacts(answer)[0])
    assert first.uri == fwd.uri, note  # the Contact is proxy mode's Request-URI ...
    assert uri_hostport(first.uri) == dest, note  # ... and where proxy mode sends it
    assert answer.get("callpolicy-from") == _name_addr(fwd.get("from")), note
    assert _asserted(answer) == _asserted(fwd), note
    if dest == PSAP:  # proxy mode's fallback (clause 9.3): the second Contact
        out = proxy.send(response_to(fwd, 503, "Service Unavailable"), PSAP)
        fallback = next(m for m, a in out if m.method == "INVITE" and a == PSAP)
        assert parse_name_addr(contacts(answer)[1]).uri == fallback.uri, note
    else:
        assert len(contacts(answer)) == 1, note


def test_a_carrier_without_an_address_is_proxy_modes_503(rules_copy: object) -> None:
    path = pathlib.Path(str(rules_copy)) / "carriers.toml"
    path.write_text(path.read_text().replace('"127.0.0.1:5070"', '"carrier.example:5070"'))
    runtime = PolicyRuntime(str(rules_copy), 0.0)
    data = invite()
    theirs = only(Harness(runtime).send(data))
    ours = only(Harness(runtime, mode="redirect").send(data))
    assert ours.serialize() == theirs.serialize() and ours.status == 503
