"""End to end: a carrier's 180 that arrives after its 200 (scenarios/uas_late_180.xml).

A multi-worker proxy, or any reordering path, may deliver a provisional response after
the final one. The carrier here answers 200, takes the ACK, then sends a 180 of the same
dialog: the 180 reaches the customer after the 200 by causality, not by timing. The edge
forwards it (RFC 3261 16.7: statelessly, the client transaction having ended with the
2xx); the customer's UAC (scenarios/uac_call.xml, its 180 ``optional="global"`` and
``advance_state="false"``) must still complete the call. The UAC's message trace shows
that the 180 really reached it after the 200. No timing is asserted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from .test_sipp import SIPP, Edge, _start_edge, ereg, finish, scenario, sipp_args, start_uas, uac

pytestmark = pytest.mark.skipif(
    SIPP is None, reason="sipp binary not found (Debian package sip-tester; CI installs it)"
)

#: The line sipp's -trace_msg writes before each message it logs.
_SEPARATOR = re.compile(r"^-{20,}.*$", re.MULTILINE)


@pytest.fixture(scope="module")
def reorder_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    """``python -m sip_edge`` (one worker) with test rules, store and config."""
    yield from _start_edge(tmp_path_factory.mktemp("edge-reorder"), workers=1)


def received(trace: str) -> list[str]:
    """The messages sipp logged as received, in order (from its -message_file)."""
    out = []
    for block in _SEPARATOR.split(trace):
        head, sep, message = block.partition(":\n")
        if sep and "message received" in head:
            out.append(message.strip("\r\n"))
    return out


def header(message: str, name: str) -> list[str]:
    """The values of header ``name`` in one logged message."""
    pattern = re.compile(rf"^{re.escape(name)}\s*:\s*(.*?)\r?$", re.IGNORECASE | re.MULTILINE)
    return pattern.findall(message)


def test_received_parses_a_sipp_trace() -> None:
    trace = (
        "----------------------------------------------- 2024-01-01 00:00:00.000000\n"
        "UDP message sent (10 bytes):\n\nINVITE sip:x SIP/2.0\nCSeq: 1 INVITE\n\n"
        "----------------------------------------------- 2024-01-01 00:00:00.000001\n"
        "UDP message received [10] bytes :\n\nSIP/2.0 200 OK\nCSeq: 1 INVITE\n\n"
        "----------------------------------------------- 2024-01-01 00:00:00.000002\n"
        "UDP message received [10] bytes :\n\nSIP/2.0 180 Ringing\ncseq:1 INVITE\n\n"
    )
    got = received(trace)
    assert [m.splitlines()[0] for m in got] == ["SIP/2.0 200 OK", "SIP/2.0 180 Ringing"]
    assert [header(m, "CSeq") for m in got] == [["1 INVITE"], ["1 INVITE"]]


def test_late_180_after_the_200_does_not_fail_the_call(reorder_edge: Edge) -> None:
    edge = reorder_edge
    xml = scenario(
        edge,
        "uas_late_180.xml",
        CHECKS=ereg(r"^INVITE sip:\+4930555000@127\.0\.0\.1:[0-9]+;user=phone SIP/2\.0"),
    )
    args = sipp_args(xml, "127.0.0.1", 1)
    args[args.index("-p") + 1] = str(edge.carrier_de)
    carrier = start_uas(edge, args)
    trace = edge.dir / "uac-late-180.log"
    done = uac(
        edge,
        scenario(edge, "uac_call.xml"),
        "030555000",
        "127.0.0.2",
        1,
        "-key", "from", "+493012345001", "-key", "privacy", "none",
        "-trace_msg", "-message_file", str(trace),
    )  # fmt: skip
    out = done.stdout.decode(errors="replace")[-3000:]
    if done.returncode != 0:
        carrier.terminate()  # do not wait out the carrier's own timeout
    code, log = finish(carrier)
    assert done.returncode == 0, out
    assert code == 0, log

    # What reached the customer for its INVITE, in order: the 180 came after the 200.
    messages = received(trace.read_text(errors="replace"))
    invite_answers = [m for m in messages if header(m, "CSeq")[:1] == ["1 INVITE"]]
    statuses = [int(m.split(None, 2)[1]) for m in invite_answers]
    assert [s for s in statuses if s != 100][:2] == [200, 180], statuses
    late = invite_answers[statuses.index(180)]
    ok = invite_answers[statuses.index(200)]
    # The late 180 is of the same dialog and went back along the Vias, ours removed.
    assert header(late, "Call-ID") == header(ok, "Call-ID")
    assert header(late, "To") == header(ok, "To") and ";tag=" in header(late, "To")[0]
    vias = header(late, "Via")
    assert len(vias) == 1 and vias[0].startswith("SIP/2.0/UDP 127.0.0.2:"), vias
