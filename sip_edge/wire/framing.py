"""Stream framing (RFC 3261 18.3): a TCP byte stream cut into messages by Content-Length.

Over UDP a datagram is a message; over a stream, Content-Length is mandatory and the only
way to find where the next message starts. ``stream.py`` feeds each connection's bytes to
a :class:`StreamFramer` and hands the whole messages to the core.
"""

from __future__ import annotations

import re

from .model import MAX_MESSAGE_BYTES, SipParseError, is_digits

__all__ = ["StreamFramer", "StreamFramingError"]

_CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(\S*)[ \t]*\r?$", re.I | re.M)


class StreamFramingError(SipParseError):
    """The stream cannot be cut any further (RFC 3261 18.3): the connection must close.

    ``messages`` are the whole messages cut before the error (they are still served);
    ``head`` is the head of the message that could not be framed when its own
    Content-Length is what is wrong (negative, not a number, or two values): the core
    can still answer it 400 before the connection closes. None otherwise (no
    Content-Length at all, too large).
    """

    def __init__(self, phrase: str, status: int, messages: list[bytes], head: bytes | None):
        """``phrase``/``status`` as SipParseError; see the class for the rest."""
        super().__init__(phrase, status)
        self.messages = messages
        self.head = head


class StreamFramer:
    """Cuts a byte stream (TCP) into messages by Content-Length (RFC 3261 18.3).

    On a stream, Content-Length is mandatory; a missing, unusable or conflicting one, or
    a message larger than ``max_size``, is a :class:`StreamFramingError`, after which
    the connection should be closed.
    """

    def __init__(self, max_size: int = MAX_MESSAGE_BYTES) -> None:
        """Frame messages of at most ``max_size`` bytes."""
        self._buf = bytearray()
        self._max = max_size

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes; return every complete message now in the buffer."""
        self._buf += data
        out: list[bytes] = []
        while True:
            while self._buf[:2] == b"\r\n" or self._buf[:1] == b"\n":
                del self._buf[: 2 if self._buf[:2] == b"\r\n" else 1]
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > self._max:
                    raise StreamFramingError("Message Too Large", 513, out, None)
                return out
            head = bytes(self._buf[:end])
            lengths = {m.group(1) for m in _CONTENT_LENGTH.finditer(head)}
            if not lengths:
                raise StreamFramingError("Missing Content-Length", 400, out, None)
            text = lengths.pop()
            if lengths or not is_digits(text.decode("latin-1")):
                # RFC 4475 3.1.2.3, 3.3.9: answerable, but where the next message starts
                # is unknown.
                raise StreamFramingError("Bad Content-Length", 400, out, head + b"\r\n\r\n")
            if len(text) > 9:  # int() of a huge digit string is slow and refused
                raise StreamFramingError("Message Too Large", 513, out, None)
            total = end + 4 + int(text)
            if total > self._max:
                raise StreamFramingError("Message Too Large", 513, out, None)
            if len(self._buf) < total:
                return out
            out.append(bytes(self._buf[:total]))
            del self._buf[:total]
