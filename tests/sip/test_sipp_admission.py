"""End to end: per-site call admission (clause 2) in ``python -m sip_edge``, with sipp.

Account ``acme`` (trunk 127.0.0.2) declares a site of 200 kbit/s: two voice calls of
100 kbit/s (rules/admission.toml). The PBX here holds two answered calls open through the
edge (a plain UDP socket: it must keep them open while sipp places the next calls, which a
sipp scenario cannot wait for); a sipp UAS plays the carrier. At the limit, a third call
from sipp gets 486 with ``site_capacity``, and a 112 call from sipp reaches the PSAP (a
sipp UAS) all the same. After the PBX hangs up both, a sipp call goes through again.
Ordering comes from the messages themselves, never from sleeps; every wait is bounded.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

import pytest

from policy.state.accounts import Site
from sip_edge.wire.message import Message, parse_message, parse_name_addr

from .conftest import acme
from .test_sipp import (
    SIPP,
    Edge,
    _start_edge,
    carried,
    ereg,
    finish,
    refused,
    scenario,
    sipp_args,
    start_uas,
)

pytestmark = pytest.mark.skipif(
    SIPP is None, reason="sipp binary not found (Debian package sip-tester; CI installs it)"
)

#: Seconds the PBX socket waits for any one answer (a bound, not an expectation).
WAIT = 20

OFFER = (
    "v=0\r\no=pbx 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
)


@pytest.fixture(scope="module")
def site_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    """The edge with ``acme`` at a site of 200 kbit/s."""
    site = Site(
        address="Unter den Linden 1, 10117 Berlin",
        municipality="11000000",
        area_code="30",
        emergency_area="test-berlin-mitte",
        bandwidth_kbps=200,
    )
    yield from _start_edge(tmp_path_factory.mktemp("edge-site"), 1, account=acme(site=site))


class Pbx:
    """The customer's PBX on the trunk address: places calls, ACKs 2xx, hangs up."""

    def __init__(self, edge: Edge) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.2", 0))
        self.sock.settimeout(WAIT)
        self.port = int(self.sock.getsockname()[1])
        self.edge = ("127.0.0.1", edge.port)
        self.tag = f"pbx{os.getpid()}"

    def close(self) -> None:
        self.sock.close()

    def _send(self, head: list[str], body: str = "") -> None:
        lines = [*head, f"Max-Forwards: 70\r\nContent-Length: {len(body)}\r\n\r\n{body}"]
        self.sock.sendto("\r\n".join(lines).encode(), self.edge)

    def invite(self, n: int) -> str:
        """Call 030 555000 (call ``n``); its Call-ID."""
        call_id = f"held{n}-{self.tag}@127.0.0.2"
        host = f"127.0.0.1:{self.edge[1]}"
        me = f"127.0.0.2:{self.port}"
        self._send(
            [
                f"INVITE sip:030555000@{host} SIP/2.0",
                f"Via: SIP/2.0/UDP {me};branch=z9hG4bK-inv{n}{self.tag};rport",
                f'From: "PBX" <sip:+493012345001@{me}>;tag={self.tag}{n}',
                f"To: <sip:030555000@{host}>",
                f"Call-ID: {call_id}",
                "CSeq: 1 INVITE",
                f"Contact: <sip:pbx@{me}>",
                "Content-Type: application/sdp",
            ],
            OFFER,
        )
        return call_id

    def answers(self, method: str, call_ids: set[str]) -> dict[str, Message]:
        """Wait for a 200 to ``method`` of each call in ``call_ids``; any other final
        answer fails the test."""
        got: dict[str, Message] = {}
        while set(got) != call_ids:
            msg = parse_message(self.sock.recv(65536))
            call_id = msg.get("call-id") or ""
            if msg.cseq()[1] != method or call_id not in call_ids or msg.status < 200:
                continue  # 100, 180, a retransmitted 2xx
            assert msg.status == 200, f"{method} of {call_id} answered {msg.status}"
            got[call_id] = msg
        return got

    def in_dialog(self, method: str, cseq: int, ok: Message) -> None:
        """ACK or BYE inside the dialog the 2xx ``ok`` made: to its Contact, by its
        Record-Route (RFC 3261 12.1.2, 12.2.1.1)."""
        target = parse_name_addr(ok.get("contact") or "").uri
        branch = f"z9hG4bK-{method.lower()}{cseq}-{ok.get('call-id')}".replace("@", ".")
        self._send(
            [
                f"{method} {target} SIP/2.0",
                f"Via: SIP/2.0/UDP 127.0.0.2:{self.port};branch={branch};rport",
                f"Route: {ok.get('record-route')}",
                f"From: {ok.get('from')}",
                f"To: {ok.get('to')}",
                f"Call-ID: {ok.get('call-id')}",
                f"CSeq: {cseq} {method}",
            ]
        )


def test_site_admission_at_the_limit_over_it_and_112_over_it(site_edge: Edge) -> None:
    edge = site_edge
    # The carrier answers three calls: the two held open, and one after they ended.
    xml = scenario(edge, "uas_answer.xml", CHECKS=ereg(r"^INVITE sip:\+4930555000@"))
    args = sipp_args(xml, "127.0.0.1", 3)
    args[args.index("-p") + 1] = str(edge.carrier_de)
    args[args.index("-recv_timeout") + 1] = "50000"  # the held calls wait for their BYE
    args[args.index("-timeout") + 1] = "55s"
    carrier = start_uas(edge, args)
    pbx = Pbx(edge)
    try:
        # At the limit: two calls of 100 kbit/s, answered and held open.
        held = {pbx.invite(1), pbx.invite(2)}
        oks = pbx.answers("INVITE", held)
        for ok in oks.values():
            pbx.in_dialog("ACK", 1, ok)
        # Over it: the third call is refused by the edge itself, never forwarded (the
        # carrier would answer it 200).
        refused(
            edge,
            "+4930555000",
            486,
            [ereg(r'^ *Q\.850;cause=17;text="site_capacity \(site-capacity ', "Reason:")],
        )
        # 112 over it: admitted and routed to the PSAP all the same (clauses 2, 9.3).
        psap_xml = scenario(edge, "uas_answer.xml", CHECKS=ereg(r"^INVITE sip:4911203001@"))
        psap_args = sipp_args(psap_xml, "127.0.0.1", 1)
        psap_args[psap_args.index("-p") + 1] = str(edge.psap)
        psap = start_uas(edge, psap_args)
        carried(edge, psap, "112", "+493012345001")
        # The held calls end: their share is free again.
        for ok in oks.values():
            pbx.in_dialog("BYE", 2, ok)
        pbx.answers("BYE", held)
    except BaseException:
        carrier.terminate()
        finish(carrier)
        raise
    finally:
        pbx.close()
    carried(edge, carrier, "030555000", "+493012345001")
