"""End to end: sipp -> Kamailio -> callpolicy in redirect mode -> 302 -> Kamailio -> sipp.

Kamailio runs ``docs/examples/kamailio-redirect.cfg`` as shipped: it asks the edge
(``python -m sip_edge`` with ``mode = "redirect"``, the Kamailio's address a trunk of
account ``acme``) about every INVITE, sends allowed calls where the 302's Contact says
with the identity the 302 carries, and relays refusals. sipp UASs play the carriers and
the PSAP and check what arrives (``<ereg check_it="true">``); the PBX is a sipp UAC on
127.0.0.2. Every sipp run is bounded; no timing is asserted.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from policy.state.store import SqliteStore
from tests._procs import free_port, stop

from .conftest import NPN, ROOT, acme, ping
from .test_sipp import (
    START_TIMEOUT,
    Edge,
    carried,
    ereg,
    refused,
    scenario,
    sipp_args,
    start_uas,
    uas,
)

KAMAILIO = shutil.which("kamailio") or next(
    (p for p in ("/usr/sbin/kamailio",) if pathlib.Path(p).exists()), None
)
pytestmark = [
    pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp not found (sip-tester)"),
    pytest.mark.skipif(KAMAILIO is None, reason="kamailio not found (Debian package kamailio)"),
]
CONFIG = ROOT / "docs" / "examples" / "kamailio-redirect.cfg"
OWN = "493012345001"


def _wait(port: int, proc: subprocess.Popen[bytes], log: pathlib.Path, what: str) -> None:
    """Until it answers OPTIONS from 127.0.0.2, or (callpolicy, which answers only its
    peers: Kamailio) until it logs that it listens."""
    deadline = time.monotonic() + START_TIMEOUT
    while not (ping(port, 0.2) if what == "kamailio" else b"listening on udp" in log.read_bytes()):
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{what} did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.05)


def kamailio(d: pathlib.Path, port: int, callpolicy: int, psap: int) -> subprocess.Popen[bytes]:
    """The shipped example on 127.0.0.1:``port``, asking callpolicy on ``callpolicy``."""
    assert KAMAILIO is not None
    run = d / f"kamailio-{port}"
    run.mkdir()
    cmd = [KAMAILIO, "-f", str(CONFIG), "-DD", "-E", "-Y", str(run), "-w", str(run),
           "-m", "64", "-l", f"udp:127.0.0.1:{port}", "-A", f'CALLPOLICY="127.0.0.1:{callpolicy}"',
           "-A", f'PSAP="127.0.0.1:{psap}"']  # fmt: skip
    log = run / "kamailio.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    _wait(port, proc, log, "kamailio")
    return proc


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    """callpolicy in redirect mode behind Kamailio; ``Edge.port`` is Kamailio's (the PBX
    calls there), ``Edge.proc`` callpolicy's."""
    d = tmp_path_factory.mktemp("kamailio-redirect")
    rules = d / "rules"
    rules.mkdir()
    for f in (ROOT / "rules").glob("*.toml"):
        shutil.copy(f, rules / f.name)
    store = SqliteStore(str(d / "state.db"))
    store.create_account(acme(), 1.0)
    store.close()
    kport, port, de, intl, psap = (free_port() for _ in range(5))
    (rules / "carriers.toml").write_text(
        (ROOT / "rules" / "carriers.toml")
        .read_text()
        .replace("127.0.0.1:5070", f"127.0.0.1:{de}")
        .replace("127.0.0.1:5072", f"127.0.0.1:{intl}")
    )
    (d / "edge.toml").write_text(
        f'mode = "redirect"\npsap = "127.0.0.1:{psap}"\n'
        f'[listen]\nhost = "127.0.0.1"\nport = {port}\ntcp = false\n'
        f'[[trunk]]\naddress = "127.0.0.1:{kport}"\naccount = "acme"\n'
    )
    cmd = [sys.executable, "-m", "sip_edge", "--config", str(d / "edge.toml"),
           "--rules", str(rules), "--store", f"sqlite:///{d / 'state.db'}"]  # fmt: skip
    log = d / "edge.log"
    with log.open("wb") as out:
        edge = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait(port, edge, log, "callpolicy")
        kam = kamailio(d, kport, port, psap)
        try:
            yield Edge(d, kport, de, intl, psap, edge)
        finally:
            stop(kam, 10)
    finally:
        stop(edge, 10)


def test_an_allowed_call_reaches_the_carrier_with_the_identity_of_the_302(stack: Edge) -> None:
    carrier = uas(
        stack,
        stack.carrier_de,
        [
            ereg(r"^INVITE sip:\+4930555000@127\.0\.0\.1:[0-9]+;user=phone SIP/2\.0"),
            ereg(rf"^ *<sip:\+{NPN}@127\.0\.0\.1;user=phone>$", "P-Asserted-Identity:"),
            ereg(rf'"PBX" +<sip:\+{OWN}@127\.0\.0\.1;user=phone>;tag=', "From:"),
            ereg(r"Privacy:", inverse=True),
            ereg(rf"<sip:127\.0\.0\.1:{stack.port};lr;ftag=", "Record-Route:"),  # Kamailio's
        ],
    )
    carried(stack, carrier, "030555000", f"+{OWN}")


def test_clir_is_passed_on_with_the_identity_asserted(stack: Edge) -> None:
    carrier = uas(
        stack,
        stack.carrier_de,
        [
            ereg(r'"Anonymous" +<sip:anonymous@anonymous\.invalid>', "From:"),
            ereg(rf"<sip:\+{NPN}@127\.0\.0\.1;user=phone>", "P-Asserted-Identity:"),
            ereg(r"^ *id$", "Privacy:"),
        ],
    )
    carried(stack, carrier, "+4930555000", f"+{OWN}", privacy="id")


def test_a_number_abroad_goes_to_its_carrier_with_the_npn(stack: Edge) -> None:
    carrier = uas(
        stack,
        stack.carrier_intl,
        [
            ereg(r"^INVITE sip:\+33123456789@127\.0\.0\.1:[0-9]+;user=phone SIP/2\.0"),
            ereg(rf"<sip:\+{NPN}@", "From:"),
            ereg(rf"<sip:\+{NPN}@", "P-Asserted-Identity:"),
        ],
    )
    carried(stack, carrier, "0033123456789", f"+{OWN}")


def test_a_blocked_number_gets_callpolicys_refusal(stack: Edge) -> None:
    refused(
        stack,
        "09001234567",
        403,
        [
            ereg(r'Q\.850;cause=21;text="premium_rate \(premium-rate blocks\.toml:[0-9]+\)"',
                 "Reason:"),
            ereg(r"^ *[^ ]+-[0-9a-z]+-[0-9a-z]+$", "Callpolicy-Decision:"),
        ],
    )  # fmt: skip


def test_112_reaches_the_psaps_fallback_when_the_first_routing_number_refuses(
    stack: Edge,
) -> None:
    """Clause 9.3 through the SBC: the 302's two Contacts, tried in q order."""
    xml = scenario(
        stack,
        "uas_psap_fallback.xml",
        PRIMARY="4911203001",
        FALLBACK="4911203002",
        CHECKS="\n".join([
            ereg(rf"<sip:\+{NPN}@127\.0\.0\.1;user=phone>", "P-Asserted-Identity:"),
            ereg(rf"<sip:\+{NPN}@127\.0\.0\.1;user=phone>", "From:"),
            ereg(r'address="Unter den Linden 1, 10117 Berlin"', "Geolocation:"),
            ereg(r"Privacy:", inverse=True),
        ]),
    )  # fmt: skip
    args = sipp_args(xml, "127.0.0.1", 1)
    args[args.index("-p") + 1] = str(stack.psap)
    carried(stack, start_uas(stack, args), "112", "anonymous", privacy="id")


def test_112_reaches_the_psap_when_callpolicy_is_silent(stack: Edge) -> None:
    """Nothing blocks an emergency call (clause 9.3): a Kamailio whose callpolicy does
    not answer sends 110/112 to the PSAP after its 2 s wait."""
    port = free_port()
    kam = kamailio(stack.dir, port, free_port(), stack.psap)
    try:
        psap = uas(stack, stack.psap, [ereg(r"^INVITE sip:112@127\.0\.0\.1:[0-9]+ SIP/2\.0")])
        alone = Edge(stack.dir, port, stack.carrier_de, stack.carrier_intl, stack.psap, kam)
        carried(alone, psap, "112", f"+{OWN}")
    finally:
        stop(kam, 10)


def test_the_benchmark_runs() -> None:
    """benchmarks/sip_redirect.py in smoke mode (one short step); nothing asserts a timing."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "sip_redirect.py"), "--quick",
         "--setups", "kamailio+redirect", "--scenarios", "blocked"],
        capture_output=True, timeout=300, check=False, cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    assert b"| blocked | 50 | kamailio+redirect | yes |" in done.stdout
