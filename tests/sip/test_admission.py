"""Per-site call admission (clause 2): sip_edge/core/admission.py, sdp.offer_share and the core.

The site ``acme`` declares 200 kbit/s: two voice calls (100 kbit/s each, the shipped
rules/admission.toml) fit, a third gets 486 with ``site_capacity``; 112 always goes
through and is counted. A call stops counting at a final answer other than 2xx, our 408,
or a BYE from either side, on a virtual clock. Twins hold the relay fast path to the same
bookkeeping.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest

from policy.percall.runtime import PolicyRuntime
from policy.state.accounts import Account, Site
from sip_edge.core.admission import SiteAdmission
from sip_edge.core.sdp import MediaShares, offer_share
from sip_edge.wire.message import Message, parse_message

from ._twins import pair, same
from .conftest import CARRIER_DE, PSAP, SDP, TRUNK, Harness, acme, invite, request_from, response_to

RR = b"Record-Route: <sip:127.0.0.1:5060;lr>\r\nContact:"

SITE_FULL = re.compile(
    r'^Q\.850;cause=17;text="site_capacity \(site-capacity (.*/)?admission\.toml:21\)"$'
)


def limited(kbps: int | None = 200) -> Account:
    """``acme`` with its Berlin site declaring ``kbps`` kbit/s (None: not declared)."""
    site = Site(
        address="Unter den Linden 1, 10117 Berlin",
        municipality="11000000",
        area_code="30",
        emergency_area="test-berlin-mitte",
        bandwidth_kbps=kbps,
    )
    return acme(site=site)


@pytest.fixture
def site(edge: Harness) -> Harness:
    """The core with ``acme`` at a site of 200 kbit/s."""
    edge.core.set_account(limited())
    return edge


def used(edge: Harness) -> int:
    return edge.core.admission.used("acme")


def sdp(media: str) -> str:
    """An offer with these m= lines (and their rtpmaps) after the session lines."""
    return "v=0\r\no=pbx 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n" + media


VIDEO = sdp(
    "m=audio 40000 RTP/AVP 9 101\r\na=rtpmap:101 telephone-event/8000\r\n"
    "m=video 40002 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
)
FAX = sdp("m=image 40004 udptl t38\r\n")


def answer(fwd: Message, status: int, reason: str) -> bytes:
    """The carrier's response to the forwarded INVITE, echoing our Record-Route."""
    return response_to(fwd, status, reason).replace(b"Contact:", RR, 1)


def bye_from_pbx(answered: Message) -> bytes:
    """The PBX hangs up the dialog the 2xx ``answered`` (as it reached the PBX) made."""
    return (
        "BYE sip:carrier@127.0.0.1:5070 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.2:5061;branch=z9hG4bK-bye;rport\r\n"
        "Route: <sip:127.0.0.1:5060;lr>\r\nMax-Forwards: 70\r\n"
        f"From: {answered.get('from')}\r\nTo: {answered.get('to')}\r\n"
        f"Call-ID: {answered.get('call-id')}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def bye_from_carrier(fwd: Message) -> bytes:
    """The carrier hangs up the call it answered (From and To swapped)."""
    return (
        "BYE sip:alice@127.0.0.2:5061 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-cbye\r\n"
        "Route: <sip:127.0.0.1:5060;lr>\r\nMax-Forwards: 70\r\n"
        f"From: {fwd.get('to')};tag=carrier1\r\nTo: {fwd.get('from')}\r\n"
        f"Call-ID: {fwd.get('call-id')}\r\nCSeq: 7 BYE\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def answered_call(edge: Harness, data: bytes | None = None) -> tuple[Message, Message]:
    """A call forwarded and answered 200: (the INVITE as forwarded, the 200 upstream)."""
    _, fwd = edge.call(data)
    out = edge.send(answer(fwd, 200, "OK"), CARRIER_DE)
    assert [(m.status, a) for m, a in out] == [(200, TRUNK)]
    return fwd, out[0][0]


def refused(edge: Harness, data: bytes) -> Message:
    """The edge's own answer to ``data``, which it must not forward."""
    ((resp, addr),) = edge.send(data)
    assert addr == TRUNK
    return resp


# --- the counter table -------------------------------------------------------------


def test_holds_up_to_the_capacity_and_not_beyond() -> None:
    table = SiteAdmission(Counter())
    assert table.take("s", 200, 100, ("c1", "t"), 0.0, 10.0) is not None
    assert table.take("s", 200, 100, ("c2", "t"), 0.0, 10.0) is not None  # exactly full
    assert table.take("s", 200, 1, ("c3", "t"), 0.0, 10.0) is None
    assert (table.used("s"), len(table)) == (200, 2)
    assert table.take("s", 200, 100, ("c4", "t"), 0.0, 10.0, force=True) is not None
    assert table.used("s") == 300
    assert table.take("other", None, 10**9, ("c5", "t"), 0.0, 10.0) is not None  # no limit


def test_a_release_counts_once_and_a_bye_matches_either_tag() -> None:
    table = SiteAdmission(Counter())
    first = table.take("s", None, 100, ("c1", "caller"), 0.0, 10.0)
    table.take("s", None, 50, ("c2", "caller"), 0.0, 10.0)
    assert first is not None
    assert table.release(first) and not table.release(first)
    assert table.ended("c2", ("callee", "caller")) is not None  # the callee hung up
    assert table.ended("c2", ("callee", "caller")) is None
    assert (table.used("s"), len(table)) == (0, 0)


def test_the_same_dialog_again_is_counted_once() -> None:
    table = SiteAdmission(Counter())
    old = table.take("s", 150, 100, ("c1", "t"), 0.0, 10.0)
    new = table.take("s", 150, 100, ("c1", "t"), 1.0, 11.0)
    assert old is not None and new is not None and table.used("s") == 100
    assert not table.release(old) and table.used("s") == 100  # the old one no longer counts


def test_holds_expire_on_the_virtual_clock_and_the_table_is_bounded() -> None:
    stats: Counter[str] = Counter()
    table = SiteAdmission(stats, max_calls=2)
    for n in range(3):
        table.take("s", None, 100, (f"c{n}", "t"), float(n), float(n) + 10.0)
    assert (len(table), stats["site_hold_evicted"]) == (2, 1)
    table.expire(10.9)
    assert (len(table), table.used("s")) == (2, 200)
    table.expire(11.0)
    assert (list(table.holds()), stats["site_hold_expired"]) == ([("c2", "t")], 1)


# --- shares of an offer (rules/admission.toml) --------------------------------------


def test_share_of_each_offer(edge: Harness) -> None:
    shares = edge.core._rules().shares
    assert offer_share(SDP.encode(), shares) == 100_000  # PCMA + telephone-event
    assert offer_share(VIDEO.encode(), shares) == 1_020_000  # G.722 and H.264
    assert offer_share(FAX.encode(), shares) == 14_400
    assert offer_share(b"", shares) == 100_000  # late offer: counted as voice
    both = sdp("m=audio 40000 RTP/AVP 18 0\r\nm=video 0 RTP/AVP 34\r\n")
    assert offer_share(both.encode(), shares) == 100_000  # G.729 no share, video inactive


def test_a_line_counts_its_dearest_format() -> None:
    shares = MediaShares({"audio": {"PCMA": 100, "G722": 150}}, 7)
    body = sdp("m=audio 1 RTP/AVP 8 96\r\na=rtpmap:96 g722/16000\r\nm=audio 2 RTP/AVP 8\r\n")
    assert offer_share(body.encode(), shares) == 250


# --- the edge: admission at the limit, over it, and 112 over it ----------------------


def test_two_calls_fit_the_site_and_a_third_gets_486_site_capacity(site: Harness) -> None:
    site.call()
    site.call()  # 2 x 100 kbit/s: exactly the 200 declared
    assert used(site) == 200_000

    resp = refused(site, invite())

    assert (resp.status, resp.reason) == (486, "Busy Here")
    assert SITE_FULL.match(resp.get("reason") or ""), resp.get("reason")
    assert site.core.stats["refused_site_capacity"] == 1
    assert used(site) == 200_000


def test_a_retransmitted_refusal_is_answered_again_and_counts_nothing(site: Harness) -> None:
    site.call()
    site.call()
    data = invite()
    first = refused(site, data)
    again = refused(site, data)
    assert (first.status, again.status) == (486, 486)
    assert site.send(request_from(parse_message(data), "ACK")) == []  # absorbed
    assert site.core.stats["refused_site_capacity"] == 1
    assert used(site) == 200_000


def test_112_over_the_limit_goes_through_and_counts(site: Harness) -> None:
    site.call()
    site.call()

    out = site.send(invite(to="112"))

    assert [(m.status or m.method, a) for m, a in out] == [(100, TRUNK), ("INVITE", PSAP)]
    assert used(site) == 300_000
    assert site.core.stats["emergency_over_site_capacity"] == 1
    assert refused(site, invite()).status == 486  # and it is counted against the site
    ((fallback, _),) = site.send(answer(out[1][0], 486, "Busy"), PSAP)[1:]
    assert fallback.method == "INVITE" and used(site) == 300_000  # on to its fallback
    site.send(answer(fallback, 486, "Busy"), PSAP)
    assert used(site) == 200_000


def test_a_video_call_takes_its_share_and_fax_fits_beside_it(site: Harness) -> None:
    site.core.set_account(limited(1_100))
    site.call(invite(sdp=VIDEO))
    assert used(site) == 1_020_000
    assert refused(site, invite()).status == 486  # 1020 + 100 > 1100
    site.call(invite(sdp=FAX))
    assert used(site) == 1_034_400


def test_an_account_without_declared_bandwidth_is_not_limited(site: Harness) -> None:
    site.core.set_account(limited(None))
    for _ in range(5):
        site.call()
    assert used(site) == 500_000  # counted, never refused
    assert site.core.stats["refused_site_capacity"] == 0


# --- the edge: when a call stops counting --------------------------------------------


def test_a_refusal_by_the_carrier_frees_the_share(site: Harness) -> None:
    site.call()
    _, fwd = site.call()
    site.send(answer(fwd, 486, "Busy Here"), CARRIER_DE)
    assert used(site) == 100_000
    site.call()  # fits again


def test_an_answered_call_counts_until_the_pbx_hangs_up(site: Harness) -> None:
    site.call()
    _, ok = answered_call(site)
    assert refused(site, invite()).status == 486  # the 2xx kept it counted
    ((bye, dest),) = site.send(bye_from_pbx(ok))
    assert (bye.method, dest) == ("BYE", CARRIER_DE)
    assert used(site) == 100_000
    site.call()


def test_an_answered_call_counts_until_the_carrier_hangs_up(site: Harness) -> None:
    site.call()
    fwd, _ = answered_call(site)
    ((bye, dest),) = site.send(bye_from_carrier(fwd), CARRIER_DE)
    assert (bye.method, dest) == ("BYE", TRUNK)
    assert used(site) == 100_000


def test_a_cancelled_call_frees_the_share_at_the_487(site: Harness) -> None:
    site.call()
    data = invite()
    _, fwd = site.call(data)
    site.send(answer(fwd, 180, "Ringing"), CARRIER_DE)
    site.send(request_from(parse_message(data), "CANCEL"))
    assert used(site) == 200_000  # the call may still be answered
    site.send(answer(fwd, 487, "Request Terminated"), CARRIER_DE)
    assert used(site) == 100_000


def test_a_set_up_without_answer_frees_the_share_at_our_408(site: Harness) -> None:
    site.call()
    site.call()
    sent = site.advance(site.now + 64 * 0.5 + 1)  # Timer B: the carrier never answered
    assert {m.status for m, a in sent if a == TRUNK} == {408}
    assert used(site) == 0


def test_a_call_whose_bye_never_came_stops_counting_after_the_timeout(site: Harness) -> None:
    answered_call(site)
    answered_call(site)
    assert refused(site, invite()).status == 486
    site.now += 43_200  # call_timeout_seconds of the shipped admission.toml
    site.call()
    assert site.core.stats["site_hold_expired"] == 2
    assert used(site) == 100_000


# --- the relay fast path keeps the same books ----------------------------------------


def test_fast_and_full_paths_hold_and_release_alike(runtime: PolicyRuntime) -> None:
    fast, full = pair(runtime)
    for edge in (fast, full):
        edge.core.set_account(limited())
    taken: list[bool] = []
    relay = fast.core._relay_fast

    def spy(*args: Any) -> bool:
        taken.append(relay(*args))
        return taken[-1]

    fast.core._relay_fast = spy  # type: ignore[method-assign,assignment]
    sent = same(fast, full, invite())
    fwd = parse_message(sent[1])
    (ok,) = same(fast, full, answer(fwd, 200, "OK"), CARRIER_DE)
    assert fast.core.admission.used("acme") == 100_000
    same(fast, full, bye_from_pbx(parse_message(ok)))
    assert fast.core.admission.used("acme") == 0
    sent = same(fast, full, invite())
    fwd = parse_message(sent[1])
    same(fast, full, answer(fwd, 200, "OK"), CARRIER_DE)
    same(fast, full, bye_from_carrier(fwd), CARRIER_DE)
    assert len(fast.core.admission) == len(full.core.admission) == 0
    assert taken == [True] * 4  # the 2xx and the BYEs took the fast path
