"""The bytes of a relayed message: a few lines changed, the rest as received.

The relay fast path (``fastpath.py``) splices its edits into the datagram as received
(``scan_relay`` gives the spans); the full path edits a parsed ``Message`` and writes it
again. Both write the same bytes for a message in canonical form, which is what
``tests/sip/test_relay_fast.py`` holds them to. Functions only: no state of the core.
"""

from __future__ import annotations

from sip_edge.wire.message import Message, Span

from .settings import Addr


def spliced_upstream(
    data: bytes, h0: int, from_: Span, vias: list[Span], upstream: Message
) -> bytes:
    """``as_sent_upstream`` of a response in canonical form, spliced: every Via line out,
    the INVITE's Vias as received in after the status line, its From in place of ours."""
    top = "".join(f"{h[1]}: {h[2]}\r\n" for h in upstream.headers if h[0] == "via")
    edits = [(h0, h0, top.encode("latin-1")), respelled(data, from_, upstream.get("from") or "")]
    edits += [(span.start, span.end, b"") for span in vias]
    edits.sort(key=span_order)
    return splice(data, edits)


def respelled(data: bytes, span: Span, value: str) -> tuple[int, int, bytes]:
    """The edit that gives the canonical line ``span`` (``Name: value``) a new value."""
    start, end = span.start, span.end
    return start, end, data[start : end - 2 - len(span.value)] + value.encode("latin-1") + b"\r\n"


def span_order(edit: tuple[int, int, bytes]) -> tuple[int, int]:
    return edit[0], edit[1]  # an insertion at a line goes before an edit of that line


def splice(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    """``data`` with each ``(start, end, new)`` (in order, not overlapping) replaced."""
    parts = []
    at = 0
    for start, end, new in edits:
        parts.append(data[at:start])
        parts.append(new)
        at = end
    parts.append(data[at:])
    return b"".join(parts)


def stamped(value: str, host: str, params: dict[str, str], addr: Addr) -> str:
    """RFC 3261 18.2.1 / RFC 3581: the top Via ``value`` with received= and rport= added
    (``params``, its parsed parameters, updated to match)."""
    if "rport" in params and not params["rport"]:
        value = value.replace(";rport", f";rport={addr[1]}", 1)
        params["rport"] = str(addr[1])
    if host != addr[0] and "received" not in params:
        value += f";received={addr[0]}"
        params["received"] = addr[0]
    return value


def as_sent_upstream(response: Message, upstream: Message) -> bytes:
    """A carrier's answer with the INVITE's Vias and From as the customer sent them.

    What popping our Via yields from a compliant carrier, and robust if it errs; the From
    was rewritten for CLIP on the way out (RFC 3261 8.2.6.2: a response echoes it).
    """
    response.headers = [h for h in upstream.headers if h[0] == "via"] + [
        h for h in response.headers if h[0] != "via"
    ]
    response.set("from", upstream.get("from") or "")
    return response.serialize()


def ack_bytes(forwarded: Message, to: str) -> bytes:
    """The ACK of a non-2xx final response to ``forwarded``, ``to`` its To (17.1.1.3)."""
    ack = Message(
        method="ACK",
        uri=forwarded.uri,
        headers=[
            ["via", "Via", forwarded.get("via") or ""],
            ["max-forwards", "Max-Forwards", "70"],
            ["from", "From", forwarded.get("from") or ""],
            ["to", "To", to],
            ["call-id", "Call-ID", forwarded.get("call-id") or ""],
            ["cseq", "CSeq", f"{forwarded.cseq()[0]} ACK"],
        ],
    )
    return ack.serialize()
