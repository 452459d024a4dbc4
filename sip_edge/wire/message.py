"""SIP messages over bytes, sans-IO: parse and serialize (RFC 3261 sections 7, 18.3, 20).

Split as h11 splits its readers and writers; this module gathers the public names:

- ``model``: :class:`Message`, :class:`Via`, :class:`NameAddr`, the error family, the
  header tables and the writers (:meth:`Message.serialize`, :func:`response_bytes`);
- ``reader``: the reference parser in Python (:func:`parse_message_py`,
  :func:`parse_via_py`, :func:`parse_name_addr`, the URI helpers), which decides every
  error and its status;
- ``framing``: :class:`StreamFramer`, Content-Length framing of a TCP stream;
- ``scanner``: the C scanner's bindings: :func:`parse_message` and :func:`parse_via`
  (C first, the reference for whatever it declines), ``scan_head``/``scan_relay`` for the
  proxy's fast paths, and their answers :class:`Head`, :class:`Relay`, :class:`Span`.
"""

from __future__ import annotations

from .framing import StreamFramer, StreamFramingError
from .model import (
    CANONICAL,
    COMPACT,
    MAX_HEADERS,
    MAX_MESSAGE_BYTES,
    Message,
    NameAddr,
    SipError,
    SipParseError,
    SipTransactionError,
    Via,
    is_digits,
    response_bytes,
    response_from,
    wire,
)
from .reader import (
    name_addr_valid,
    parse_message_py,
    parse_name_addr,
    parse_via_py,
    uri_hostport,
    uri_user,
    via_valid,
)
from .scanner import (
    Head,
    Relay,
    Span,
    parse_message,
    parse_via,
    scan_head,
    scan_relay,
    scan_via,
)

__all__ = [
    "CANONICAL",
    "COMPACT",
    "MAX_HEADERS",
    "MAX_MESSAGE_BYTES",
    "Head",
    "Message",
    "NameAddr",
    "Relay",
    "SipError",
    "SipParseError",
    "SipTransactionError",
    "Span",
    "StreamFramer",
    "StreamFramingError",
    "Via",
    "is_digits",
    "name_addr_valid",
    "parse_message",
    "parse_message_py",
    "parse_name_addr",
    "parse_via",
    "parse_via_py",
    "response_bytes",
    "response_from",
    "scan_head",
    "scan_relay",
    "scan_via",
    "uri_hostport",
    "uri_user",
    "via_valid",
    "wire",
]
