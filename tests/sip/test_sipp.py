"""End to end: ``python -m sip_edge`` on loopback, driven by sipp (scenarios/*.xml).

The edge runs as a real process with a private copy of the rules (carriers on free
ports), a tmp SQLite store and two trunks: 127.0.0.2 (account ``acme``) and 127.0.0.3
(account ``dialer``, for the power-dialer burst). sipp UASs play the carriers and the
PSAP on 127.0.0.1 and check what the edge forwarded with ``<ereg check_it="true">``; a
failed check fails the call and sipp's exit status. Every sipp run is bounded (-m,
-timeout). No timing is asserted.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from xml.sax.saxutils import escape

import pytest

from policy.state.accounts import Account
from policy.state.store import SqliteStore
from tests._procs import free_port, stop

from .conftest import NPN, ROOT, acme, ping

SIPP = shutil.which("sipp")
pytestmark = pytest.mark.skipif(
    SIPP is None, reason="sipp binary not found (Debian package sip-tester; CI installs it)"
)
SCENARIOS = pathlib.Path(__file__).parent / "scenarios"
#: Seconds any one sipp run may take (its -timeout) and the edge may take to start.
RUN_TIMEOUT = 30
START_TIMEOUT = 20


def wait_bound(host: str, port: int, proc: subprocess.Popen[bytes]) -> None:
    """Wait until something (the sipp UAS) has bound ``host:port``."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert proc.poll() is None, "sipp UAS exited before binding its port"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                return
        time.sleep(0.02)
    raise AssertionError(f"nothing bound {host}:{port}")


@dataclass
class Edge:
    """The running edge and the addresses of the test set-up."""

    dir: pathlib.Path
    port: int
    carrier_de: int
    carrier_intl: int
    psap: int
    proc: subprocess.Popen[bytes]


def _start_edge(
    d: pathlib.Path,
    workers: int,
    listen: str = "",
    account: Account | None = None,
    rules_edit: Callable[[pathlib.Path], None] | None = None,
) -> Iterator[Edge]:
    """Run the edge in ``d``; ``listen`` adds lines to its [listen] table; ``account``
    replaces ``acme()`` as the account of trunk 127.0.0.2; ``rules_edit`` may change the
    copy of the shipped rules (its directory) before the edge starts.

    A port found free can be taken before the edge binds it (other tests' sipp and edge
    processes pick ports too): an edge that exits while starting is retried on new ports.
    """
    rules = d / "rules"
    rules.mkdir()
    for f in (ROOT / "rules").glob("*.toml"):
        shutil.copy(f, rules / f.name)
    if rules_edit is not None:
        rules_edit(rules)
    store = SqliteStore(str(d / "state.db"))
    store.create_account(account or acme(), 1.0)
    store.create_account(acme(id="dialer"), 1.0)
    store.close()
    for attempt in range(3):
        port, de, intl, psap = (free_port() for _ in range(4))
        carriers = rules / "carriers.toml"
        carriers.write_text(
            (ROOT / "rules" / "carriers.toml")
            .read_text()
            .replace("127.0.0.1:5070", f"127.0.0.1:{de}")
            .replace("127.0.0.1:5072", f"127.0.0.1:{intl}")
        )
        (d / "edge.toml").write_text(
            f'psap = "127.0.0.1:{psap}"\n[listen]\nhost = "127.0.0.1"\nport = {port}\n'
            f"workers = {workers}\n{listen}"
            '[[trunk]]\naddress = "127.0.0.2"\naccount = "acme"\n'
            '[[trunk]]\naddress = "127.0.0.3"\naccount = "dialer"\n'
        )
        cmd = [sys.executable, "-m", "sip_edge", "--config", str(d / "edge.toml")]
        cmd += ["--rules", str(rules), "--store", f"sqlite:///{d / 'state.db'}"]
        log = (d / "edge.log").open("wb")
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while not ping(port, 0.2):
                if proc.poll() is not None and attempt < 2:
                    break  # lost a port race: again, on new ports
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"edge did not start:\n{(d / 'edge.log').read_text()}")
            else:
                yield Edge(d, port, de, intl, psap, proc)
                return
        finally:
            stop(proc, 10)
            log.close()


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    """``python -m sip_edge`` (one worker) with test rules, store and config."""
    yield from _start_edge(tmp_path_factory.mktemp("edge"), workers=1)


@pytest.fixture(scope="module")
def edge2(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    """The same with two worker processes sharing the port (SO_REUSEPORT)."""
    yield from _start_edge(tmp_path_factory.mktemp("edge2"), workers=2)


def scenario(edge: Edge, name: str, **fill: str) -> str:
    """Scenario file ``name`` with its placeholders filled, written beside the edge."""
    text = (SCENARIOS / name).read_text()
    for key, value in fill.items():
        text = text.replace("{{" + key + "}}", value)
    path = edge.dir / f"{name.removesuffix('.xml')}-{os.getpid()}-{time.monotonic_ns()}.xml"
    path.write_text(text)
    return str(path)


def ereg(regexp: str, header: str | None = None, inverse: bool = False) -> str:
    """An ``<ereg>`` check on a header (or the whole message)."""
    where = f'search_in="hdr" header="{header}"' if header else 'search_in="msg"'
    check = 'check_it_inverse="true"' if inverse else 'check_it="true"'
    pattern = escape(regexp, {'"': "&quot;"})
    return f'      <ereg regexp="{pattern}" {where} {check} assign_to="c"/>'


def sipp_args(xml: str, ip: str, calls: int, *extra: str) -> list[str]:
    assert SIPP is not None
    return [
        SIPP, "-sf", xml, "-i", ip, "-p", str(free_port(ip)), "-m", str(calls),
        "-nostdin", "-timeout", f"{RUN_TIMEOUT}s", "-timeout_error", "-recv_timeout", "10000",
        "-mp", str(free_port(ip)), *extra,
    ]  # fmt: skip


def uas(edge: Edge, port: int, checks: list[str], calls: int = 1) -> subprocess.Popen[bytes]:
    """A sipp UAS (carrier or PSAP) on 127.0.0.1:``port`` answering ``calls`` calls."""
    xml = scenario(edge, "uas_answer.xml", CHECKS="\n".join(checks))
    args = sipp_args(xml, "127.0.0.1", calls)
    args[args.index("-p") + 1] = str(port)
    return start_uas(edge, args)


def start_uas(edge: Edge, args: list[str]) -> subprocess.Popen[bytes]:
    """Start a sipp UAS and wait until it listens (its output in the error if it died)."""
    proc = subprocess.Popen(args, cwd=edge.dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    port = int(args[args.index("-p") + 1])
    try:
        wait_bound("127.0.0.1", port, proc)
    except AssertionError:
        code, out = finish(proc)
        raise AssertionError(f"sipp UAS failed ({code}):\n{out}") from None
    return proc


def uac(
    edge: Edge, xml: str, service: str, ip: str = "127.0.0.2", calls: int = 1, *extra: str
) -> subprocess.CompletedProcess[bytes]:
    """A sipp UAC (the customer PBX) placing ``calls`` calls to ``service``.

    sipp exits 254 (its EXIT_BIND_ERROR) before any call when a port ``free_port`` found
    was taken since by another process (tests run beside each other): tried again, on new
    ports.
    """
    for _ in range(3):
        args = sipp_args(xml, ip, calls, "-s", service, *extra)
        args.insert(1, f"127.0.0.1:{edge.port}")
        done = subprocess.run(
            args, cwd=edge.dir, capture_output=True, timeout=RUN_TIMEOUT + 30, check=False
        )
        if done.returncode != 254:
            break
    return done


def finish(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    try:
        out, _ = proc.communicate(timeout=RUN_TIMEOUT + 30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
    return proc.returncode, out.decode(errors="replace")[-3000:]


def call(edge: Edge, service: str, from_user: str, privacy: str = "none") -> tuple[int, str]:
    xml = scenario(edge, "uac_call.xml")
    done = uac(
        edge, xml, service, "127.0.0.2", 1, "-key", "from", from_user, "-key", "privacy", privacy
    )
    return done.returncode, done.stdout.decode(errors="replace")[-3000:]


def carried(
    edge: Edge, answering: subprocess.Popen[bytes], service: str, from_user: str, **kw: str
) -> None:
    """One call through the edge to the sipp UAS ``answering``; both sipps must pass
    (the UAS's checks on what the edge forwarded included). A failed call stops the UAS
    at once rather than waiting out its timeout."""
    rc, out = call(edge, service, from_user, **kw)
    if rc != 0:
        answering.terminate()
    code, log = finish(answering)
    assert rc == 0, f"the calling sipp failed:\n{out}"
    assert code == 0, f"the answering sipp failed:\n{log}"


def refused(edge: Edge, service: str, status: int, checks: list[str], codec: str = "8 101") -> None:
    xml = scenario(edge, "uac_refused.xml", STATUS=str(status), CHECKS="\n".join(checks))
    done = uac(
        edge, xml, service, "127.0.0.2", 1, "-key", "from", "+493012345001", "-key", "codec", codec
    )
    assert done.returncode == 0, done.stdout.decode(errors="replace")[-3000:]


def test_blocked_premium_rate_call_gets_403_with_reason(edge: Edge) -> None:
    refused(
        edge,
        "09001234567",
        403,
        [
            ereg(
                r'Q\.850;cause=21;text="premium_rate \(premium-rate .*blocks\.toml:[0-9]+\)"',
                "Reason:",
            )
        ],
    )


def test_allowed_call_through_to_the_carrier(edge: Edge) -> None:
    carrier = uas(
        edge,
        edge.carrier_de,
        [
            ereg(r"^INVITE sip:\+4930555000@127\.0\.0\.1:[0-9]+;user=phone SIP/2\.0"),
            ereg(r"SIP/2\.0/UDP 127\.0\.0\.1:[0-9]+;branch=z9hG4bK", "Via:"),
            ereg(r"<sip:127\.0\.0\.1:[0-9]+;lr>", "Record-Route:"),
            ereg(r"^ *69", "Max-Forwards:"),
        ],
    )
    carried(edge, carrier, "030555000", "+493012345001")


def test_clip_upn_is_presented_npn_asserted(edge: Edge) -> None:
    carrier = uas(
        edge,
        edge.carrier_de,
        [
            ereg(r"sip:\+493012345001@", "From:"),
            ereg(rf"sip:\+{NPN}@", "P-Asserted-Identity:"),
        ],
    )
    carried(edge, carrier, "+4930555000", "+493012345001")


def test_clip_foreign_upn_falls_back_to_the_npn(edge: Edge) -> None:
    carrier = uas(
        edge,
        edge.carrier_de,
        [
            ereg(rf"sip:\+{NPN}@", "From:"),
            ereg(r"\+4940999999", inverse=True),
        ],
    )
    carried(edge, carrier, "+4930555000", "+4940999999")


def test_emergency_call_reaches_the_psap_rewritten(edge: Edge) -> None:
    psap = uas(
        edge,
        edge.psap,
        [
            ereg(r"^INVITE sip:4911203001@127\.0\.0\.1:[0-9]+ SIP/2\.0"),
            ereg(rf"sip:\+{NPN}@", "From:"),
            ereg(rf"sip:\+{NPN}@", "P-Asserted-Identity:"),
            ereg(r'address="Unter den Linden 1, 10117 Berlin"', "Geolocation:"),
            ereg("Privacy:", inverse=True),
        ],
    )
    carried(edge, psap, "112", "anonymous", privacy="id")


def test_emergency_call_refused_by_the_psap_reaches_the_fallback(edge: Edge) -> None:
    """Clause 9.3: the first routing number answers 503; the edge ACKs it and sends the
    call on to the area's fallback routing number, and the caller gets that answer.

    Both routing numbers reach the edge's one PSAP interface (a routing number is the
    Request-URI's user part, selecting the PSAP behind the interface): one sipp UAS
    plays it, answering the first INVITE 503 and the second 200; its scenario checks
    each INVITE's routing number. The caller's sipp fails on anything but a 200.
    """
    xml = scenario(
        edge,
        "uas_psap_fallback.xml",
        PRIMARY="4911203001",
        FALLBACK="4911203002",
        CHECKS=ereg(rf"sip:\+{NPN}@", "P-Asserted-Identity:"),
    )
    args = sipp_args(xml, "127.0.0.1", 1)
    args[args.index("-p") + 1] = str(edge.psap)
    carried(edge, start_uas(edge, args), "112", "+493012345001")


def test_offer_with_only_a_disallowed_codec_gets_488(edge: Edge) -> None:
    refused(
        edge,
        "+4930555000",
        488,
        [
            ereg(r'305 .*"Incompatible media format"', "Warning:"),
            ereg(r"cause=65", "Reason:"),
        ],
        codec="18",
    )


def test_cancel_of_a_ringing_call(edge: Edge) -> None:
    xml = scenario(edge, "uas_cancelled.xml")
    args = sipp_args(xml, "127.0.0.1", 1)
    args[args.index("-p") + 1] = str(edge.carrier_de)
    carrier = start_uas(edge, args)
    done = uac(
        edge,
        scenario(edge, "uac_cancel.xml"),
        "+4930555000",
        "127.0.0.2",
        1,
        "-key",
        "from",
        "+493012345001",
    )
    assert done.returncode == 0, done.stdout.decode(errors="replace")[-3000:]
    code, log = finish(carrier)
    assert code == 0, log


def test_power_dialer_burst_is_limited_while_112_goes_through(edge: Edge) -> None:
    calls = 30
    carrier = uas(edge, edge.carrier_de, [ereg(r"^INVITE sip:\+4930555000@")], calls=calls)
    trace = edge.dir / "burst.log"
    done = uac(
        edge,
        scenario(edge, "uac_burst.xml"),
        "+4930555000",
        "127.0.0.3",
        calls,
        "-key", "from", "+493012345001", "-r", "50", "-l", "50",
        "-trace_msg", "-message_file", str(trace),
    )  # fmt: skip
    assert done.returncode == 0, done.stdout.decode(errors="replace")[-3000:]
    text = trace.read_text(errors="replace")
    refused_calls = text.count("SIP/2.0 403 Forbidden")
    assert refused_calls > 0, "the burst never tripped the power-dialer limit"
    assert "power_dialer (power-dialer" in text
    carrier.terminate()
    finish(carrier)
    # An emergency call from the same account, right after: never limited (clause 9.3).
    psap = uas(edge, edge.psap, [ereg(r"^INVITE sip:4911203001@")])
    xml = scenario(edge, "uac_call.xml")
    done = uac(
        edge, xml, "112", "127.0.0.3", 1, "-key", "from", "+493012345001", "-key", "privacy", "none"
    )
    assert done.returncode == 0, done.stdout.decode(errors="replace")[-3000:]
    code, log = finish(psap)
    assert code == 0, log


def test_two_workers_carry_calls_and_refusals(edge2: Edge) -> None:
    """Carrier responses reach the worker holding the transaction (its private port)."""
    deadline = time.monotonic() + START_TIMEOUT
    while b"worker 1 listening" not in (edge2.dir / "edge.log").read_bytes():
        assert time.monotonic() < deadline, "the second worker did not start"
        time.sleep(0.05)
    carrier = uas(edge2, edge2.carrier_de, [ereg(r"^INVITE sip:\+4930555000@")], calls=4)
    xml = scenario(edge2, "uac_call.xml")
    for _ in range(4):  # a new source port per sipp run: spread over the workers
        done = uac(edge2, xml, "030555000", "127.0.0.2", 1, "-key", "from", "+493012345001",
                   "-key", "privacy", "none")  # fmt: skip
        assert done.returncode == 0, done.stdout.decode(errors="replace")[-3000:]
    code, log = finish(carrier)
    assert code == 0, log
    refused(edge2, "09001234567", 403, [ereg("premium_rate", "Reason:")])
