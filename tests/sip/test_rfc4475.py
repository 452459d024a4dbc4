"""RFC 4475 section 3 (SIP torture test messages) through the edge.

Every message of the RFC's section 3 is a file in ``tests/sip/rfc4475`` (named by its
section), and ``expected.toml`` there says what the edge answers to it and why, citing the
RFC. Each goes through the sans-IO core (``EdgeCore.receive``, with and without the C
fast paths), and over UDP and TCP to ``python -m sip_edge`` as a process, sent from the
test trunk. Over a socket a drop is told from a slow answer without any timing: an
OPTIONS sent after the message on the same socket or connection is answered after it,
so the first answer read is the message's, or the OPTIONS' own when there is none.
"""

from __future__ import annotations

import pathlib
import socket
import tomllib
from collections.abc import Iterator
from typing import Any

import pytest

from policy.percall.runtime import PolicyRuntime
from sip_edge.wire.message import StreamFramer

from ._twins import pair, same
from .conftest import TRUNK, Harness
from .test_sipp import Edge, _start_edge

CORPUS = pathlib.Path(__file__).parent / "rfc4475"
EXPECTED: dict[str, dict[str, Any]] = tomllib.loads((CORPUS / "expected.toml").read_text())
#: Seconds any one read may block before the test fails.
WAIT = 10.0


def _section(name: str) -> list[int]:
    return [int(n) for n in name.split("_", 1)[0].split(".")]


NAMES = sorted(EXPECTED, key=_section)


def message(name: str) -> bytes:
    """The bytes of RFC 4475 message ``name`` (``3.1.1.1_wsinv``)."""
    return (CORPUS / f"{name}.sip").read_bytes()


def status_of(data: bytes) -> int:
    """The status code of a response (its start line only: some answers, like the 400 to
    a request without From, lack headers a full parse wants)."""
    assert data.startswith(b"SIP/2.0 "), data[:80]
    return int(data[8:11])


def sentinel(branch: str) -> bytes:
    """An OPTIONS from the trunk, answered 200 after whatever was sent before it."""
    return (
        "OPTIONS sip:127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.2:5999;branch=z9hG4bK-{branch};rport\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:ping@127.0.0.2>;tag=s\r\nTo: <sip:127.0.0.1>\r\n"
        f"Call-ID: {branch}@rfc4475\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def test_the_corpus_is_section_3_whole() -> None:
    files = sorted((p.stem for p in CORPUS.glob("*.sip")), key=_section)
    assert files == NAMES
    assert len(NAMES) == 49  # 13 + 19 valid and invalid, 1 transaction, 15 application, 1
    for name in NAMES:
        assert EXPECTED[name]["reason"].startswith(name.split("_")[0] + ":"), name


# --- the sans-IO core ------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_core(runtime: PolicyRuntime, name: str) -> None:
    """The core's answer, with the fast paths and without them (the twins agree)."""
    fast, full = pair(runtime)
    sent = same(fast, full, message(name), TRUNK)
    want = EXPECTED[name]["udp"]
    if want == "drop":
        assert sent == [], sent
    else:
        assert [status_of(d) for d in sent] == [want], sent


def test_core_counts_the_drops(edge: Harness) -> None:
    for name in NAMES:
        if EXPECTED[name]["udp"] == "drop":
            edge.core.receive(message(name), TRUNK, edge.now)
    assert edge.raw() == []


def test_unsupported_lists_every_unknown_option_tag(edge: Harness) -> None:
    edge.core.receive(message("3.3.5_bext01"), TRUNK, edge.now)
    ((answer, addr),) = edge.raw()
    assert addr == TRUNK
    assert status_of(answer) == 420
    tags = b"nothingSupportsThis, nothingSupportsThisEither, noProxiesSupportThis, "
    assert b"\r\nUnsupported: " + tags + b"norDoAnyProxiesSupportThis\r\n" in answer


# --- over sockets to a running edge ----------------------------------------------------


def _no_dialer_limits(rules: pathlib.Path) -> None:
    """The corpus sends a dozen INVITEs within a second from one trunk: above the
    shipped power-dialer limits (clause 7.2), which would answer some 403 instead."""
    path = rules / "power_dialer.toml"
    text = path.read_text()
    text = text.replace("max_attempts_per_second = 5 ", "max_attempts_per_second = 1000 ")
    text = text.replace("max_concurrent_setups = 10 ", "max_concurrent_setups = 1000 ")
    assert "= 1000 " in text
    path.write_text(text)


@pytest.fixture(scope="module")
def udp_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    """``python -m sip_edge`` with the shipped defaults (one worker), but the power-dialer
    limits; one per transport, as the same INVITE again would be a retransmission,
    answered as the first time (to the first sender)."""
    yield from _start_edge(tmp_path_factory.mktemp("rfc4475-udp"), 1, "", None, _no_dialer_limits)


@pytest.fixture(scope="module")
def tcp_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    """The same, for the TCP tests."""
    yield from _start_edge(tmp_path_factory.mktemp("rfc4475-tcp"), 1, "", None, _no_dialer_limits)


@pytest.mark.parametrize("name", NAMES)
def test_udp(udp_edge: Edge, name: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.2", 0))
        s.settimeout(WAIT)
        s.sendto(message(name), ("127.0.0.1", udp_edge.port))
        s.sendto(sentinel(f"udp-{name}"), ("127.0.0.1", udp_edge.port))
        first = s.recv(65536)
        want = EXPECTED[name]["udp"]
        if want == "drop":
            assert f"z9hG4bK-udp-{name};".encode() in first, first[:200]
        else:
            assert status_of(first) == want, first[:200]
            assert status_of(s.recv(65536)) == 200  # the sentinel, nothing in between


class Stream:
    """A TCP connection from the trunk address, read as whole messages."""

    def __init__(self, port: int) -> None:
        """Connect from 127.0.0.2 (any port)."""
        self.sock = socket.create_connection(("127.0.0.1", port), WAIT, ("127.0.0.2", 0))
        self.framer = StreamFramer()
        self.pending: list[bytes] = []

    def recv(self) -> bytes | None:
        """The next whole message, None once the edge closed the connection."""
        while not self.pending:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return None
            if not chunk:
                return None
            self.pending += self.framer.feed(chunk)
        return self.pending.pop(0)


@pytest.mark.parametrize("name", NAMES)
def test_tcp(tcp_edge: Edge, name: str) -> None:
    spec = EXPECTED[name]
    want = spec.get("tcp", spec["udp"])
    data = message(name)
    if want == "hold":
        # The edge can only wait for the rest of the body (RFC 3261 18.3): its framer
        # holds the bytes and hands nothing to the core.
        assert StreamFramer().feed(data) == []
        return
    conn = Stream(tcp_edge.port)
    try:
        conn.sock.sendall(data + sentinel(f"tcp-{name}"))
        if want == "close":
            assert conn.recv() is None
            return
        statuses = want if isinstance(want, list) else [] if want == "drop" else [want]
        for status in statuses:
            answer = conn.recv()
            assert answer is not None, "closed before the answer"
            assert status_of(answer) == status, answer[:200]
        last = conn.recv()
        if spec.get("tcp_close"):
            assert last is None, last
        else:
            assert last is not None and f"z9hG4bK-tcp-{name};".encode() in last, last
    finally:
        conn.sock.close()
