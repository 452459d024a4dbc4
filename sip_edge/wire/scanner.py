"""The C scanner's bindings (``_wire.pyx``): the fast path of the parser, and its fallback.

:func:`parse_message` and :func:`parse_via` try the scanner first and hand whatever it
declines to the reference (``reader``), which decides every error; ``scan_head`` and
``scan_relay`` are the light passes the proxy's fast paths take (``proxy._refuse_fast``,
``proxy._relay_fast``), answering a :class:`Head` or a :class:`Relay` of :class:`Span` s.
Without the extension (it is built by every install) they decline everything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .model import COMPACT, MAX_HEADERS, MAX_MESSAGE_BYTES, Message, SipParseError, Via
from .reader import _SPLIT, parse_message_py, parse_via_py

if TYPE_CHECKING:
    from ._wire import Head, Relay, Span

__all__ = [
    "Head",
    "Relay",
    "Span",
    "parse_message",
    "parse_via",
    "scan_head",
    "scan_relay",
    "scan_via",
]


def parse_message(data: bytes, max_size: int = MAX_MESSAGE_BYTES) -> Message:
    """Parse one message (a whole datagram); raise SipParseError if it is not SIP.

    The C scanner (``_wire.scan``) takes the well-formed messages; anything it declines
    goes to :func:`parse_message_py`, the reference, which also decides every error.
    """
    parts = _scan(data, max_size)
    if parts is not None:
        method, uri, status, reason, headers, body, first = parts
        msg = Message(method, uri, status, reason, headers, body)
        msg._first = first  # built by the scanner: key -> first entry
        try:
            msg.top_via()
        except SipParseError:
            pass  # the reference raises it, with the partial message
        else:
            return msg
    return parse_message_py(data, max_size)


def parse_via(value: str) -> Via:
    """Parse one Via value (raises SipParseError); plain values take the C scanner."""
    parts = _scan_via(value)
    if parts is not None:
        return Via(*parts)
    return parse_via_py(value)


_Scanned = tuple[str, str, int, str, list[list[str]], bytes, dict[str, list[str]]]


def _no_scan(data: bytes, max_size: int) -> None:
    return None


def _no_scan_via(value: str) -> None:
    return None


scan_head: Callable[[bytes, int], Head | None]
"""The C scanner's light pass over a request (``_wire.scan_head``); None when the
message is not in the plain shape, or the extension is missing: the caller then takes
the full path (:func:`parse_message`), which is the reference."""
scan_via: Callable[[str], tuple[str, str, int | None, dict[str, str]] | None]
"""The C Via parser for plain values (``_wire.scan_via``), None otherwise."""
scan_relay: Callable[[bytes, int], Relay | None]
"""The C scanner's pass over a message in canonical form (``_wire.scan_relay``): where
the lines a relay changes are; None otherwise, or without the extension."""

try:
    from . import _wire
except ImportError:  # pragma: no cover - the extension is built by every pip install
    _scan: Callable[[bytes, int], _Scanned | None]
    _scan = _no_scan
    _scan_via: Callable[[str], tuple[str, str, int | None, dict[str, str]] | None]
    _scan_via = _no_scan_via
    scan_head = _no_scan
    scan_relay = _no_scan
else:
    _wire.configure(COMPACT, _SPLIT, MAX_HEADERS)
    _scan = _wire.scan
    _scan_via = _wire.scan_via
    scan_head = _wire.scan_head
    scan_relay = _wire.scan_relay
    if not TYPE_CHECKING:
        Head, Relay, Span = _wire.Head, _wire.Relay, _wire.Span
scan_via = _scan_via
