"""Fixtures of the SIP edge tests: the shipped rules, test accounts, a core without sockets."""

from __future__ import annotations

import pathlib
import socket
from collections.abc import Callable

import pytest

from policy.percall.runtime import PolicyRuntime
from policy.state.accounts import Account, Site
from sip_edge.core.proxy import CoreSettings, EdgeCore
from sip_edge.core.redirect import new_core
from sip_edge.wire.message import Message, parse_message
from tests._numbers import active

FIXTURES = pathlib.Path(__file__).parent / "fixtures"
ROOT = pathlib.Path(__file__).resolve().parents[2]

EDGE = ("127.0.0.1", 5060)
TRUNK = ("127.0.0.2", 5061)
OTHER_TRUNK = ("127.0.0.3", 5061)
CARRIER_DE = ("127.0.0.1", 5070)
CARRIER_INTL = ("127.0.0.1", 5072)
PSAP = ("127.0.0.1", 5090)
STRANGER = ("192.0.2.66", 5060)

NPN = "493012345000"
OWN = "493012345001"

SDP = (
    "v=0\r\no=pbx 1 1 IN IP4 127.0.0.2\r\ns=-\r\nc=IN IP4 127.0.0.2\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 8 0 101\r\na=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\n"
)


def fixture(name: str) -> bytes:
    """The bytes of ``tests/sip/fixtures/<name>.sip``."""
    return (FIXTURES / f"{name}.sip").read_bytes()


def acme(**fields: object) -> Account:
    """The test account: NPN 030 12345000, one more own number, a Berlin site."""
    base: dict[str, object] = {
        "id": "acme",
        "npn": NPN,
        "holdings": active(NPN, OWN),
        "site": Site(
            address="Unter den Linden 1, 10117 Berlin",
            municipality="11000000",
            area_code="30",
            emergency_area="test-berlin-mitte",
        ),
    }
    if "numbers" in fields:  # own numbers besides the NPN, all active
        numbers: tuple[str, ...] = fields.pop("numbers")  # type: ignore[assignment]
        base["holdings"] = active(NPN, *numbers)
    base.update(fields)
    return Account(**base)  # type: ignore[arg-type]


_counter = iter(range(1, 10**9))


def invite(
    to: str = "+4930555000",
    from_user: str = f"+{OWN}",
    extra: str = "",
    sdp: str = SDP,
    branch: str | None = None,
    call_id: str | None = None,
    display: str = '"Alice" ',
    max_forwards: str = "70",
    from_tag: str | None = None,
) -> bytes:
    """An initial INVITE from the trunk (unique branch and Call-ID unless given)."""
    n = next(_counter)
    branch = branch or f"z9hG4bK-t{n}"
    call_id = call_id or f"call-{n}@127.0.0.2"
    body = sdp.encode()
    head = (
        f"INVITE sip:{to}@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.2:5061;branch={branch};rport\r\n"
        f"Max-Forwards: {max_forwards}\r\n"
        f"From: {display}<sip:{from_user}@127.0.0.2>;tag={from_tag or f'from{n}'}\r\n"
        f"To: <sip:{to}@127.0.0.1>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 INVITE\r\n"
        "Contact: <sip:alice@127.0.0.2:5061>\r\n"
        f"{extra}"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def request_from(msg: Message, method: str, extra: str = "") -> bytes:
    """ACK (non-2xx) or CANCEL for the INVITE ``msg`` as the customer would send it."""
    lines = [
        f"{method} {msg.uri} SIP/2.0",
        f"Via: {msg.get('via')}",
        "Max-Forwards: 70",
        f"From: {msg.get('from')}",
        f"To: {msg.get('to')}",
        f"Call-ID: {msg.get('call-id')}",
        f"CSeq: {msg.cseq()[0]} {method}",
    ]
    return ("\r\n".join(lines) + "\r\n" + extra + "Content-Length: 0\r\n\r\n").encode()


def response_to(msg: Message, status: int, reason: str, to_tag: str = "carrier1") -> bytes:
    """A response of the carrier to the forwarded request ``msg`` (all its Vias)."""
    lines = [f"SIP/2.0 {status} {reason}"]
    lines += [f"Via: {v}" for v in msg.get_all("via")]
    to = msg.get("to") or ""
    if status > 100 and ";tag=" not in to:
        to += f";tag={to_tag}"
    lines += [
        f"From: {msg.get('from')}",
        f"To: {to}",
        f"Call-ID: {msg.get('call-id')}",
        f"CSeq: {msg.get('cseq')}",
        "Contact: <sip:carrier@127.0.0.1:5070>",
    ]
    return ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode()


def ping(port: int, timeout: float = 0.3) -> bool:
    """OPTIONS from the trunk address to an edge on 127.0.0.1:``port``; True on a 200.

    How the SIP tests and benchmarks/sip.py know a proxy they started is serving.
    """
    msg = (
        f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.2:5999;rport;branch=z9hG4bK-ping\r\nMax-Forwards: 70\r\n"
        "From: <sip:ping@127.0.0.2>;tag=p\r\nTo: <sip:127.0.0.1>\r\nCall-ID: ping@test\r\n"
        "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.2", 0))
        s.settimeout(timeout)
        s.sendto(msg, ("127.0.0.1", port))
        try:
            return s.recv(4096).startswith(b"SIP/2.0 200")
        except OSError:
            return False


class Harness:
    """A core with the shipped rules, the ``acme`` account on TRUNK, and a virtual clock."""

    def __init__(self, runtime: PolicyRuntime, **settings: object) -> None:
        """Build the core; ``settings`` override CoreSettings fields."""
        kw: dict[str, object] = {
            "via": EDGE,
            "record_route": EDGE,
            "psap": PSAP,
            "trunks": {("127.0.0.2", None): "acme", OTHER_TRUNK: "ghost"},
        }
        kw.update(settings)
        # mode="redirect" makes it a RedirectCore (sip_edge/core/redirect.py), as the shell does.
        self.core: EdgeCore = new_core(CoreSettings(**kw), runtime)  # type: ignore[arg-type]
        self.core.set_account(acme())
        self.now = 1000.0

    def send(
        self, data: bytes, addr: tuple[str, int] = TRUNK
    ) -> list[tuple[Message, tuple[str, int]]]:
        """Feed one datagram; return what the core sends, parsed."""
        self.core.receive(data, addr, self.now)
        return self.out()

    def out(self) -> list[tuple[Message, tuple[str, int]]]:
        """Everything the core sends now, parsed."""
        return [(parse_message(d), a) for d, a in self.core.datagrams_to_send()]

    def raw(self) -> list[tuple[bytes, tuple[str, int]]]:
        """Everything the core sends now, as bytes."""
        return self.core.datagrams_to_send()

    def advance(self, to: float) -> list[tuple[Message, tuple[str, int]]]:
        """Run every timer up to time ``to`` (as the shell would); return what was sent."""
        sent: list[tuple[Message, tuple[str, int]]] = []
        while True:
            deadline = self.core.get_timer()
            if deadline is None or deadline > to:
                break
            self.now = max(self.now, deadline)
            self.core.handle_timer(self.now)
            sent += self.out()
        self.now = to
        return sent

    def call(self, data: bytes | None = None) -> tuple[Message, Message]:
        """Send an allowed INVITE; return (the 100 to the customer, the forwarded INVITE)."""
        out = self.send(data or invite())
        assert [m.status or m.method for m, _ in out] == [100, "INVITE"], out
        return out[0][0], out[1][0]


@pytest.fixture(scope="session")
def runtime() -> PolicyRuntime:
    """The shipped rules, compiled once for the SIP tests."""
    return PolicyRuntime(str(ROOT / "rules"), 0.0)


@pytest.fixture
def edge(runtime: PolicyRuntime) -> Harness:
    """A fresh core over the shipped rules."""
    return Harness(runtime)


@pytest.fixture
def make_edge(runtime: PolicyRuntime) -> Callable[..., Harness]:
    """A core with overridden settings."""

    def make(**settings: object) -> Harness:
        return Harness(runtime, **settings)

    return make
