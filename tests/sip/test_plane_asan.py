"""The data plane's C under AddressSanitizer and UBSan.

``scan.c``, ``relay_scan.c`` and ``relay.c`` read untrusted datagrams in C. Here the
plane is compiled with ``-fsanitize=address,undefined`` into a small driver
(``tests/sip/c/plane_driver.c``) and fed the SIP fixtures, the RFC 4475 torture
messages and thousands of mutations of the INVITE and ACK it answers and of the BYE,
ACK and response it relays, each in a heap block of its exact size: any read past a
message, any undefined behaviour, stops the driver with a report and fails the test.
"""

from __future__ import annotations

import hashlib
import pathlib
import random
import shutil
import struct
import subprocess

import pytest

from ._twins import mutate
from .conftest import invite

ROOT = pathlib.Path(__file__).resolve().parents[2]
FAST = ROOT / "sip_edge" / "fast"
CORPORA = [ROOT / "tests" / "sip" / "fixtures", ROOT / "tests" / "sip" / "rfc4475"]

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")


#: C sources of the plane (what setup.py compiles into sip_edge.fast._plane).
SOURCES = [
    "loop.c", "refuse.c", "remembered.c", "peers.c", "outbox.c", "relay.c", "relay_scan.c",
    "owned.c", "readers.c",
    "scan.c", "lex.c", "blake2b.c", "admission.c", "fifo.c", "limits.c", "logline.c",
    "decide.c",
]  # fmt: skip


def _in_dialog(method: str) -> bytes:
    """A request inside a dialog through the driver's edge (plane_driver.c)."""
    return (
        f"{method} sip:bob@127.0.0.1:5070 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 10.0.0.7:5061;branch=z9hG4bK-d1;rport\r\n"
        "Route: <sip:127.0.0.1:5060;lr>\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:acme@10.0.0.7>;tag=f1\r\n"
        "To: <sip:+4930555000@127.0.0.1>;tag=t1\r\n"
        "Call-ID: c1@10.0.0.7\r\n"
        f"CSeq: 2 {method}\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def _response() -> bytes:
    """The 200 to a BYE the driver's edge relayed: our Via on top (branching.py)."""
    suffix = hashlib.blake2b(b"z9hG4bK-d1", digest_size=4).hexdigest()
    return (
        "SIP/2.0 200 OK\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKcpe0123456789ab.{suffix};rport=5060\r\n"
        "Via: SIP/2.0/UDP 10.0.0.7:5061;branch=z9hG4bK-d1;rport=5061;received=127.0.0.1\r\n"
        "From: <sip:acme@10.0.0.7>;tag=f1\r\n"
        "To: <sip:+4930555000@127.0.0.1>;tag=t1\r\n"
        "Call-ID: c1@10.0.0.7\r\n"
        "CSeq: 2 BYE\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def _answer(status: str, length: str = "0") -> bytes:
    """An answer to the INVITE the driver's core forwarded (its Call-ID is owned there)."""
    body = "v=0\r\n" if length != "0" else ""
    return (
        f"SIP/2.0 {status}\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKcpe0123456789ab.01;rport, "
        "SIP/2.0/UDP 10.0.0.7:5061;branch=z9hG4bK-o1;rport=5061\r\n"
        "From: <sip:+493012345000@127.0.0.1;user=phone>;tag=f1\r\n"
        "To: <sip:+4930555000@127.0.0.1>;tag=t9\r\n"
        "Call-ID: o1@10.0.0.7\r\n"
        "CSeq: 1 INVITE\r\n"
        f"Content-Length: {length}\r\n\r\n{body}"
    ).encode()


def _messages() -> list[bytes]:
    out = [p.read_bytes() for d in CORPORA if d.is_dir() for p in sorted(d.rglob("*.sip"))]
    base = [invite(to="09001234567"), invite(to="+4930555000")]
    ack = base[0].replace(b"INVITE sip:", b"ACK sip:", 1).replace(b"1 INVITE", b"1 ACK")
    folded = _response().replace(b";rport=5060\r\nVia: ", b";rport=5060, ")
    base += [ack, _in_dialog("BYE"), _in_dialog("ACK"), _in_dialog("INFO"), _response(), folded]
    base += [_answer("100 Trying"), _answer("180 Ringing"), _answer("200 OK", "   5")]
    rnd = random.Random(4475)
    for i in range(12000):
        out.append(mutate(base[i % len(base)], rnd))
    for data in base:  # every prefix: a datagram cut anywhere
        out += [data[:n] for n in range(len(data))]
    return out


def test_the_plane_reads_no_byte_outside_a_message(tmp_path: pathlib.Path) -> None:
    exe = tmp_path / "plane_driver"
    subprocess.run(
        ["gcc", "-std=gnu99", "-g", "-O1", "-fsanitize=address,undefined",
         "-fno-sanitize-recover=all", "-I", str(FAST), *(str(FAST / s) for s in SOURCES),
         str(ROOT / "tests" / "sip" / "c" / "plane_driver.c"), "-lpthread", "-o", str(exe)],
        check=True,
    )  # fmt: skip
    messages = _messages()
    stream = b"".join(struct.pack("<I", len(m)) + m for m in messages)
    done = subprocess.run([str(exe)], input=stream, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    scanned, relay_scanned, relayed, total = map(int, done.stdout.split())
    assert total == len(messages)
    # The plain messages are taken: each scan, and the relay, went all the way.
    assert scanned > 0 and relay_scanned > 0
    assert relayed >= 8  # the plain ones: BYE, ACK, INFO, the 200 and folded, the answers
