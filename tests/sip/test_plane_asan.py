"""The data plane's scanner under AddressSanitizer and UBSan.

``scan.c`` reads untrusted datagrams in C. Here it is compiled with
``-fsanitize=address,undefined`` into a small driver (``tests/sip/c/scan_driver.c``)
and fed the SIP fixtures, the RFC 4475 torture messages and thousands of mutations of
the INVITE and ACK it takes, each in a heap block of its exact size: any read past a
message, any undefined behaviour, stops the driver with a report and fails the test.
"""

from __future__ import annotations

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


def _messages() -> list[bytes]:
    out = [p.read_bytes() for d in CORPORA if d.is_dir() for p in sorted(d.rglob("*.sip"))]
    base = [invite(to="09001234567"), invite(to="+4930555000")]
    ack = base[0].replace(b"INVITE sip:", b"ACK sip:", 1).replace(b"1 INVITE", b"1 ACK")
    base.append(ack)
    rnd = random.Random(4475)
    for i in range(6000):
        out.append(mutate(base[i % len(base)], rnd))
    for data in base:  # every prefix: a datagram cut anywhere
        out += [data[:n] for n in range(len(data))]
    return out


def test_the_scanner_reads_no_byte_outside_a_message(tmp_path: pathlib.Path) -> None:
    exe = tmp_path / "scan_driver"
    subprocess.run(
        ["gcc", "-std=c99", "-g", "-O1", "-fsanitize=address,undefined",
         "-fno-sanitize-recover=all", "-I", str(FAST), str(FAST / "scan.c"),
         str(ROOT / "tests" / "sip" / "c" / "scan_driver.c"), "-o", str(exe)],
        check=True,
    )  # fmt: skip
    messages = _messages()
    stream = b"".join(struct.pack("<I", len(m)) + m for m in messages)
    done = subprocess.run([str(exe)], input=stream, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    taken, total = map(int, done.stdout.split())
    assert total == len(messages)
    assert taken > 0  # the plain INVITE and ACK are taken: the scan went all the way
