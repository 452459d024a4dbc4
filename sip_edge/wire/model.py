"""The SIP message model (RFC 3261 7, 20): what a message is, with no parsing in it.

A request or response is a :class:`Message` (start line, header entries in wire order,
body); :class:`Via` and :class:`NameAddr` are the parsed values the proxy asks for most.
Text is kept as latin-1 (a bijection on bytes), so whatever a peer sent is forwarded byte
for byte; values this edge adds go through :func:`wire` (UTF-8 on the wire). The errors
are one family (:class:`SipError`), caught at ``EdgeCore.receive``. Writing is here too:
:meth:`Message.serialize` and the stateless answers (:func:`response_bytes`).

The split follows h11's: this model, the reference parser (``reader``), stream framing
(``framing``) and the C scanner's bindings (``scanner``); ``message`` re-exports them.
"""

from __future__ import annotations

__all__ = [
    "CANONICAL",
    "COMPACT",
    "MAX_HEADERS",
    "MAX_MESSAGE_BYTES",
    "Message",
    "NameAddr",
    "SipError",
    "SipParseError",
    "SipTransactionError",
    "Via",
    "is_digits",
    "response_bytes",
    "response_from",
    "wire",
]

#: Largest message accepted (bytes). UDP allows 65,507; a call set-up is ~1-2 kB.
MAX_MESSAGE_BYTES = 16_384
#: Most header entries (after splitting Via/Route values) one message may have.
MAX_HEADERS = 128

#: RFC 3261 7.3.3 and the IANA registry: compact form -> full (lower-case) name.
COMPACT = {
    "v": "via",
    "f": "from",
    "t": "to",
    "i": "call-id",
    "m": "contact",
    "l": "content-length",
    "c": "content-type",
    "k": "supported",
    "s": "subject",
    "e": "content-encoding",
    "o": "event",
    "r": "refer-to",
    "b": "referred-by",
    "u": "allow-events",
    "x": "session-expires",
    "a": "accept-contact",
    "j": "reject-contact",
    "d": "request-disposition",
    "y": "identity",
    "n": "identity-info",
}

#: Spelling used for headers this edge writes.
CANONICAL = {
    "via": "Via",
    "from": "From",
    "to": "To",
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "contact": "Contact",
    "content-type": "Content-Type",
    "max-forwards": "Max-Forwards",
    "record-route": "Record-Route",
    "route": "Route",
    "reason": "Reason",
    "warning": "Warning",
    "privacy": "Privacy",
    "p-asserted-identity": "P-Asserted-Identity",
    "p-preferred-identity": "P-Preferred-Identity",
    "retry-after": "Retry-After",
    "geolocation": "Geolocation",
    "geolocation-routing": "Geolocation-Routing",
    "allow": "Allow",
    "server": "Server",
}


class SipError(Exception):
    """Base of the edge's protocol errors (caught at the ``receive()`` boundary)."""


class SipParseError(SipError):
    """A message that cannot be parsed: the status to answer, and what got parsed."""

    def __init__(self, phrase: str, status: int = 400, partial: Message | None = None) -> None:
        """``phrase`` says what is wrong; ``partial`` is the message as far as it parsed."""
        super().__init__(f"{status} {phrase}")
        self.status = status
        self.phrase = phrase
        self.partial = partial


class SipTransactionError(SipError):
    """A message that parses but does not fit any transaction or dialog (answered or dropped)."""

    def __init__(self, phrase: str, status: int) -> None:
        """``status`` is the answer (481, 482, 483 ...), ``phrase`` its reason phrase."""
        super().__init__(f"{status} {phrase}")
        self.status = status
        self.phrase = phrase


def is_digits(text: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts "²" or "٣", which int() refuses."""
    return text.isascii() and text.isdigit()


def wire(text: str) -> str:
    """``text`` as this module keeps values: UTF-8 bytes seen through latin-1."""
    return text.encode("utf-8", "replace").decode("latin-1")


class Message:
    """A request (``method`` set) or a response (``status`` set), headers in wire order.

    ``headers`` holds ``[key, name, value]`` entries: ``key`` is the lower-case full
    name (compact forms expanded), ``name`` the spelling to write.
    """

    __slots__ = ("_first", "_headers", "_via", "body", "method", "reason", "status", "uri")

    def __init__(
        self,
        method: str = "",
        uri: str = "",
        status: int = 0,
        reason: str = "",
        headers: list[list[str]] | None = None,
        body: bytes = b"",
    ) -> None:
        """Build a message; prefer :func:`parse_message`."""
        self.method = method
        self.uri = uri
        self.status = status
        self.reason = reason
        self._headers: list[list[str]] = headers if headers is not None else []
        self._first: dict[str, list[str]] | None = None
        self.body = body
        self._via: tuple[str, Via] | None = None

    @property
    def headers(self) -> list[list[str]]:
        """The entries; change them through the methods below (they keep the index)."""
        return self._headers

    @headers.setter
    def headers(self, value: list[list[str]]) -> None:
        self._headers = value
        self._first = None

    def _index(self) -> dict[str, list[str]]:
        """key -> first entry: a proxy asks for the same few headers many times."""
        first: dict[str, list[str]] = {}
        for h in self._headers:
            if h[0] not in first:
                first[h[0]] = h
        self._first = first
        return first

    def top_via(self) -> Via:
        """The top Via, parsed (cached while that header value is unchanged)."""
        value = self.get("via") or ""
        cached = self._via
        if cached is not None and cached[0] is value:
            return cached[1]
        via = _scanner.parse_via(value)
        self._via = (value, via)
        return via

    def set_top_via(self, value: str, via: Via) -> None:
        """Make ``value`` the top Via's value, ``via`` its parse (saves parsing it again)."""
        entry = (self._first or self._index()).get("via")
        if entry is None:
            raise SipParseError("Missing Via")
        entry[2] = value
        self._via = (value, via)

    @property
    def is_request(self) -> bool:
        """True for a request."""
        return self.status == 0

    def get(self, key: str) -> str | None:
        """The first value of header ``key`` (lower-case full name), or None."""
        h = (self._first or self._index()).get(key)
        return None if h is None else h[2]

    def get_all(self, key: str) -> list[str]:
        """Every value of header ``key``, in order."""
        return [h[2] for h in self._headers if h[0] == key]

    def count(self, key: str) -> int:
        """How many entries header ``key`` has."""
        return sum(1 for h in self._headers if h[0] == key)

    def remove(self, key: str) -> int:
        """Remove every entry of header ``key``; returns how many there were."""
        if self._first is not None and key not in self._first:
            return 0
        before = len(self._headers)
        self.headers = [h for h in self._headers if h[0] != key]
        return before - len(self._headers)

    def remove_first(self, key: str) -> str | None:
        """Remove the first entry of ``key`` and return its value."""
        for i, h in enumerate(self._headers):
            if h[0] == key:
                del self._headers[i]
                self._first = None
                return h[2]
        return None

    def set(self, key: str, value: str) -> None:
        """Replace every entry of ``key`` by one (where the first was, else at the end)."""
        headers = self._headers
        for i, h in enumerate(headers):
            if h[0] == key:
                h[2] = value
                rest = headers[i + 1 :]
                if any(x[0] == key for x in rest):
                    headers[i + 1 :] = [x for x in rest if x[0] != key]
                return
        self.add(key, value)

    def add(self, key: str, value: str, name: str | None = None) -> None:
        """Append an entry of ``key`` (written as ``name``, else its usual spelling)."""
        entry = [key, name or CANONICAL.get(key, key.title()), value]
        self._headers.append(entry)
        if self._first is not None:
            self._first.setdefault(key, entry)

    def push(self, key: str, value: str) -> None:
        """Insert ``value`` as the top entry of ``key`` (before its first entry, or first)."""
        entry = [key, CANONICAL.get(key, key.title()), value]
        headers = self._headers
        for i, h in enumerate(headers):
            if h[0] == key:
                headers.insert(i, entry)
                break
        else:
            headers.insert(0, entry)
        if self._first is not None:
            self._first[key] = entry

    def cseq(self) -> tuple[int, str]:
        """The CSeq number and method (parse-checked for requests and responses)."""
        num, _, method = (self.get("cseq") or "").partition(" ")
        return int(num), method.strip()

    def serialize(self) -> bytes:
        """The message as bytes, with a Content-Length that matches the body."""
        if self.status:
            lines = [f"SIP/2.0 {self.status} {self.reason}"]
        else:
            lines = [f"{self.method} {self.uri} SIP/2.0"]
        lines.extend(f"{h[1]}: {h[2]}" for h in self._headers if h[0] != "content-length")
        lines.append(f"Content-Length: {len(self.body)}\r\n\r\n")
        return "\r\n".join(lines).encode("latin-1") + self.body

    def __repr__(self) -> str:
        """Start line only (messages may hold customer numbers)."""
        start = f"{self.status} {self.reason}" if self.status else f"{self.method} {self.uri}"
        return f"<Message {start}>"


class Via:
    """One Via value: transport, sent-by and parameters (RFC 3261 20.42)."""

    __slots__ = ("host", "params", "port", "transport")

    def __init__(self, transport: str, host: str, port: int | None, params: dict[str, str]):
        """Build from parts; ``params`` maps lower-case names to values ('' if none)."""
        self.transport = transport
        self.host = host
        self.port = port
        self.params = params

    @property
    def branch(self) -> str:
        """The branch parameter ('' if none)."""
        return self.params.get("branch", "")


class NameAddr:
    """A From/To/P-Asserted-Identity value: display name, URI and header parameters."""

    __slots__ = ("_tag", "display", "params", "uri")

    def __init__(self, display: str, uri: str, params: str) -> None:
        """``params`` is the raw parameter text after the URI, starting with ';' or ''."""
        self.display = display
        self.uri = uri
        self.params = params
        self._tag: str | None = None

    @property
    def tag(self) -> str:
        """The tag parameter ('' if none)."""
        tag = self._tag
        if tag is None:
            tag = ""
            for p in self.params.split(";"):
                name, _, val = p.partition("=")
                if name.strip().lower() == "tag":
                    tag = val.strip()
                    break
            self._tag = tag
        return tag

    def __str__(self) -> str:
        """The value as written on the wire."""
        display = f"{self.display} " if self.display else ""
        return f"{display}<{self.uri}>{self.params}"


_ECHOED = frozenset(("via", "from", "call-id", "cseq"))


def response_bytes(
    request: Message,
    status: int,
    reason: str,
    to_tag: str = "",
    extra: list[tuple[str, str]] | None = None,
) -> bytes:
    """A response to ``request`` (RFC 3261 8.2.6), serialized: Via, From, Call-ID and CSeq
    copied as received, To with ``to_tag`` added, then ``extra`` and Content-Length."""
    echoed = [h for h in request.headers if h[0] in _ECHOED]
    return response_from(echoed, request.get("to") or "", status, reason, to_tag, extra)


def response_from(
    echoed: list[list[str]],
    to: str,
    status: int,
    reason: str,
    to_tag: str = "",
    extra: list[tuple[str, str]] | None = None,
) -> bytes:
    """:func:`response_bytes` from the request's echoed ``[key, name, value]`` header
    entries (Via, From, Call-ID, CSeq, in order) and its To value."""
    lines = [f"SIP/2.0 {status} {reason}"]
    lines += [f"{h[1]}: {h[2]}" for h in echoed]
    if to:  # a request without To (RFC 4475 3.3.1) gets its 400 without one
        if to_tag and status > 100 and ";tag=" not in to.lower().replace(" ", ""):
            to = f"{to};tag={to_tag}"
        lines.append(f"To: {to}")
    for key, value in extra or ():
        lines.append(f"{CANONICAL.get(key, key.title())}: {value}")
    lines.append("Content-Length: 0\r\n\r\n")
    return "\r\n".join(lines).encode("latin-1")


# Message.top_via parses with the scanner's parse_via (C for plain values, else the
# reference); imported last, as the scanner and the reader build on this module.
from . import scanner as _scanner  # noqa: E402
