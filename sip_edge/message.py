"""SIP messages over bytes, sans-IO: parse and serialize (RFC 3261 sections 7, 18.3, 20).

One datagram is one message (RFC 3261 18.3). Header names are case-insensitive and have
compact forms (7.3.3); header lines may be folded (7.3.1); a Via, Route or Record-Route
line with comma-separated values is split into one entry per value (7.3.1 makes the two
forms equivalent), so the top value is always ``headers[first]``. Text is kept as latin-1
(a bijection on bytes), so whatever a peer sent is forwarded byte for byte; values this
edge adds go through :func:`wire` (UTF-8 on the wire).

Every parse error is a :class:`SipParseError` carrying the status to answer (400, or 416
for an unsupported URI scheme) and, when the headers got that far, the partial message,
so ``receive()`` can decide between a 400 and a silent drop.
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = [
    "MAX_HEADERS",
    "MAX_MESSAGE_BYTES",
    "Message",
    "NameAddr",
    "SipError",
    "SipParseError",
    "SipTransactionError",
    "StreamFramer",
    "Via",
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

#: Headers whose comma-separated values are split into entries (RFC 3261 7.3.1).
_SPLIT = frozenset(("via", "route", "record-route"))
_TOKEN = re.compile(r"^[A-Za-z0-9.!%*_+`'~-]+$")
_VIA = re.compile(r"^SIP\s*/\s*2\.0\s*/\s*([A-Za-z]+)\s+([^;\s]+)\s*(;.*)?$", re.S)
_CONTENT_LENGTH = re.compile(rb"^(?:content-length|l)[ \t]*:[ \t]*(\d+)[ \t]*\r?$", re.I | re.M)
_URI_SCHEMES = ("sip:", "sips:", "tel:")
_VERSION = re.compile(r"^SIP/[0-9]+\.[0-9]+$")
_MANDATORY = ("via", "from", "to", "call-id", "cseq")
#: Headers a message carries at most once (RFC 3261 7.3.1: they are not lists).
_ONCE = ("from", "to", "call-id", "cseq", "max-forwards")
#: Header names seen before (as written) -> key: skips validation on the common path.
_NAMES: dict[str, str] = {}
_NAMES_MAX = 2048


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
        via = parse_via(value)
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


def _split_values(value: str) -> list[str]:
    """Split a header value at commas outside quotes and angle brackets."""
    if "," not in value:
        return [value]
    if '"' not in value and "<" not in value:  # the common case (Via lists): no nesting
        return [v for v in (x.strip() for x in value.split(",")) if v]
    out: list[str] = []
    depth = 0
    quoted = False
    start = 0
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            depth += 1
        elif ch == ">":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            out.append(value[start:i].strip())
            start = i + 1
        i += 1
    out.append(value[start:].strip())
    return [v for v in out if v]


def _start_line(line: str) -> tuple[Message, SipParseError | None]:
    """The start line as a Message, and the error it holds (raised once the headers are
    read, so that a request with a bad request line can still be answered: RFC 4475
    3.1.2.8-3.1.2.10, 3.1.2.16). A line that is not even ``token ...`` raises at once."""
    if line.startswith("SIP/"):
        parts = line.split(" ", 2)
        if len(parts) < 2 or parts[0] != "SIP/2.0":
            raise SipParseError("Bad Status Line")
        code = parts[1]
        if len(code) != 3 or not is_digits(code) or not 100 <= int(code) <= 699:
            raise SipParseError("Bad Status Code")
        return Message(status=int(code), reason=parts[2] if len(parts) == 3 else ""), None
    parts = line.split(" ")
    if len(parts) == 3 and parts[2] == "SIP/2.0" and _TOKEN.match(parts[0]) and parts[1]:
        return Message(method=parts[0], uri=parts[1]), None
    words = line.split()
    if not words or not _TOKEN.match(words[0]):
        raise SipParseError("Bad Request Line")
    msg = Message(method=words[0], uri=words[1] if len(words) > 1 else "")
    if len(parts) == 3 and parts[1] and _VERSION.match(parts[2]):
        # RFC 3261 8.2 / 21.5.7, RFC 4475 3.1.2.16: a version we do not speak.
        return msg, SipParseError("Version Not Supported", status=505)
    # RFC 3261 7.1 / 25.1: one SP between the three elements, none before or after.
    return msg, SipParseError("Bad Request Line")


def _key_of(raw: str) -> str | None:
    """The key of header name ``raw`` (compact forms expanded), None if not a token."""
    name = raw.rstrip(" \t")
    if not _TOKEN.match(name):
        return None
    key = name.lower()
    key = COMPACT.get(key, key)
    if len(_NAMES) < _NAMES_MAX:
        _NAMES[raw] = key
    return key


def _headers(msg: Message, lines: list[str]) -> None:
    headers = msg.headers
    bad = False
    for line in lines:
        if line[:1] in (" ", "\t"):
            if not headers:
                raise SipParseError("Bad Folded Line")
            # RFC 3261 7.3.1: a continuation line is the same header; LWS becomes one SP.
            headers[-1][2] = f"{headers[-1][2]} {line.strip()}".strip()
            continue
        name, colon, value = line.partition(":")
        key = (_NAMES.get(name) or _key_of(name)) if colon else None
        if key is None:
            bad = True  # keep reading: the rest may be enough to answer 400
            continue
        value = value.strip()
        if key in _SPLIT:
            for v in _split_values(value):
                headers.append([key, name, v])
        else:
            headers.append([key, name, value])
        if len(headers) > MAX_HEADERS:
            raise SipParseError("Too Many Headers", partial=msg)
    # Split values of folded Via/Route lines (folding is joined above, splitting here).
    if any(h[0] in _SPLIT and "," in h[2] for h in headers):
        flat: list[list[str]] = []
        for h in headers:
            if h[0] in _SPLIT and "," in h[2]:
                flat.extend([h[0], h[1], v] for v in _split_values(h[2]))
            else:
                flat.append(h)
        msg.headers = flat
    if bad:
        raise SipParseError("Bad Header Line", partial=msg)


def _check(msg: Message) -> None:
    """The headers every request and response needs (RFC 3261 8.1.1, 20), each once."""
    for key in _MANDATORY:
        if msg.get(key) is None:
            raise SipParseError(f"Missing {CANONICAL[key]}", partial=msg)
    for key in _ONCE:
        if msg.count(key) > 1:
            # RFC 3261 7.3.1: only list headers may appear more than once (RFC 4475 3.3.8).
            raise SipParseError(f"Duplicate {CANONICAL[key]}", partial=msg)
    num, _, method = (msg.get("cseq") or "").partition(" ")
    num, method = num.strip(), method.strip()
    if not is_digits(num) or len(num) > 10 or int(num) >= 2**31 or not _TOKEN.match(method):
        raise SipParseError("Bad CSeq", partial=msg)
    for value in msg.get_all("via"):
        if not via_valid(value):
            raise SipParseError("Bad Via", partial=msg)  # RFC 4475 3.1.2.1
    for key in ("from", "to"):
        if not name_addr_valid(msg.get(key) or ""):
            raise SipParseError(f"Bad {CANONICAL[key]}", partial=msg)  # 3.1.2.6, 3.1.2.15
    if msg.is_request:
        if method != msg.method:
            raise SipParseError("CSeq Method Mismatch", partial=msg)
        mf = msg.get("max-forwards")
        # 1*DIGIT, 0-255; leading zeros are legal (RFC 4475 3.1.1.1: "0068").
        if mf is not None and (not is_digits(mf) or len(mf) > 10 or int(mf) > 255):
            raise SipParseError("Bad Max-Forwards", partial=msg)
        uri = msg.uri
        if uri.startswith("<") or "?" in uri.rpartition("@")[2]:
            # Not an absoluteURI in angle brackets (RFC 4475 3.1.2.7), no escaped headers
            # (RFC 3261 19.1.1 table 1, RFC 4475 3.1.2.11).
            raise SipParseError("Bad Request-URI", partial=msg)
        if not uri.lower().startswith(_URI_SCHEMES):
            raise SipParseError("Unsupported URI Scheme", status=416, partial=msg)
    msg.top_via()  # the top Via must be usable to answer


def via_valid(value: str) -> bool:
    """One Via value as RFC 3261 25.1 ``via-parm`` has it: the reference's form, and no
    empty parameter (``;;`` or a trailing ``;``, RFC 4475 3.1.2.1)."""
    m = _VIA.match(value)
    if m is None:
        return False
    params = m.group(3)
    if params:
        for p in params.split(";")[1:]:
            if not p.partition("=")[0].strip():
                return False
    return True


def name_addr_valid(value: str) -> bool:
    """A From/To value of RFC 3261 20.10/20.20: quotes closed (RFC 4475 3.1.2.6) and a
    display name before ``<`` that is a quoted string or tokens (3.1.2.15)."""
    lt = -1
    quoted = False
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<" and lt < 0:
            lt = i
        i += 1
    if quoted:
        return False
    if lt < 0:
        return True  # addr-spec form (RFC 3261 20.10)
    if value.find(">", lt) < 0:
        return False
    display = value[:lt].strip(" \t")
    if not display or (display[0] == '"' and display[-1] == '"' and len(display) > 1):
        return True
    return all(_TOKEN.match(word) for word in display.split())


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


def parse_message_py(data: bytes, max_size: int = MAX_MESSAGE_BYTES) -> Message:
    """The reference parser in Python: every rule of RFC 3261 7 this edge checks."""
    if len(data) > max_size:
        raise SipParseError("Message Too Large", status=513)
    data = data.lstrip(b"\r\n")  # RFC 3261 7.5: CRLFs before the start line are ignored
    end = data.find(b"\r\n\r\n")
    sep = 4
    if end < 0:
        end = data.find(b"\n\n")
        sep = 2
    if end < 0:
        head, body, complete = data, b"", False
    else:
        head, body, complete = data[:end], data[end + sep :], True
    text = head.decode("latin-1")
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    if not lines[0]:
        raise SipParseError("Empty Message")
    msg, start_error = _start_line(lines[0])
    _headers(msg, lines[1:])
    if start_error is not None:
        start_error.partial = msg
        raise start_error
    if not complete:
        raise SipParseError("Missing Empty Line", partial=msg)
    lengths = {h[2].strip() for h in msg.headers if h[0] == "content-length"}
    if len(lengths) > 1:
        raise SipParseError("Conflicting Content-Length", partial=msg)
    if lengths:
        cl = lengths.pop()
        if not is_digits(cl) or len(cl) > 9:
            raise SipParseError("Bad Content-Length", partial=msg)
        n = int(cl)
        if n > len(body):
            raise SipParseError("Truncated Body", partial=msg)
        body = body[:n]  # RFC 3261 18.3: bytes after Content-Length are discarded
    msg.body = body
    _check(msg)
    return msg


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


def _hostport(text: str) -> tuple[str, int | None]:
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise SipParseError("Bad Host")
        host, rest = text[: close + 1], text[close + 1 :]
    else:
        host, colon, port = text.partition(":")
        rest = ":" + port if colon else ""
    if not host:
        raise SipParseError("Bad Host")
    if not rest:
        return host, None
    port_text = rest[1:]
    if not rest.startswith(":") or not is_digits(port_text) or not 0 < int(port_text) < 65536:
        raise SipParseError("Bad Port")
    return host, int(port_text)


def parse_via(value: str) -> Via:
    """Parse one Via value (raises SipParseError); plain values take the C scanner."""
    parts = _scan_via(value)
    if parts is not None:
        return Via(*parts)
    return parse_via_py(value)


def parse_via_py(value: str) -> Via:
    """The reference Via parser (RFC 3261 20.42, 25.1 via-parm)."""
    m = _VIA.match(value)
    if m is None:
        raise SipParseError("Bad Via")
    host, port = _hostport(m.group(2))
    params: dict[str, str] = {}
    if m.group(3):
        for p in m.group(3).split(";"):
            name, _, val = p.partition("=")
            name = name.strip().lower()
            if name:
                params[name] = val.strip()
    return Via(m.group(1).upper(), host, port, params)


class NameAddr:
    """A From/To/P-Asserted-Identity value: display name, URI and header parameters."""

    __slots__ = ("display", "params", "uri")

    def __init__(self, display: str, uri: str, params: str) -> None:
        """``params`` is the raw parameter text after the URI, starting with ';' or ''."""
        self.display = display
        self.uri = uri
        self.params = params

    @property
    def tag(self) -> str:
        """The tag parameter ('' if none)."""
        for p in self.params.split(";"):
            name, _, val = p.partition("=")
            if name.strip().lower() == "tag":
                return val.strip()
        return ""

    def __str__(self) -> str:
        """The value as written on the wire."""
        display = f"{self.display} " if self.display else ""
        return f"{display}<{self.uri}>{self.params}"


def parse_name_addr(value: str) -> NameAddr:
    """Parse a name-addr or addr-spec header value (RFC 3261 20.10, 20.20)."""
    lt = value.find("<")
    if lt >= 0:
        gt = value.find(">", lt)
        if gt < 0:
            raise SipParseError("Bad Address")
        return NameAddr(value[:lt].strip(), value[lt + 1 : gt].strip(), value[gt + 1 :].strip())
    # addr-spec form: parameters after the URI belong to the header (RFC 3261 20.10).
    uri, semi, params = value.strip().partition(";")
    if not uri:
        raise SipParseError("Bad Address")
    return NameAddr("", uri.strip(), semi + params)


def uri_user(uri: str) -> str:
    """The user part of a sip:/sips: URI, or the number of a tel: URI ('' if none)."""
    scheme, colon, rest = uri.partition(":")
    if not colon:
        return ""
    if scheme.lower() == "tel":
        return rest.split(";", 1)[0]
    user, at, _ = rest.partition("@")
    return user.split(";", 1)[0].split(":", 1)[0] if at else ""


def uri_hostport(uri: str) -> tuple[str, int | None]:
    """Host and port of a sip:/sips: URI (raises SipParseError)."""
    _, colon, rest = uri.partition(":")
    if not colon:
        raise SipParseError("Bad URI")
    rest = rest.rpartition("@")[2]
    for stop in (";", "?", ">"):
        rest = rest.split(stop, 1)[0]
    return _hostport(rest.strip())


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


_Scanned = tuple[str, str, int, str, list[list[str]], bytes, dict[str, list[str]]]


def _no_scan(data: bytes, max_size: int) -> None:
    return None


def _no_scan_via(value: str) -> None:
    return None


#: scan_head's answer: (method, uri, echoed, top_via, to, call_id, max_forwards).
Head = tuple[str, str, list[list[str]], list[str], str | None, str | None, str | None]

scan_head: Callable[[bytes, int], Head | None]
"""The C scanner's light pass over a request (``_wire.scan_head``); None when the
message is not in the plain shape, or the extension is missing: the caller then takes
the full path (:func:`parse_message`), which is the reference."""
scan_via: Callable[[str], tuple[str, str, int | None, dict[str, str]] | None]
"""The C Via parser for plain values (``_wire.scan_via``), None otherwise."""

Span = tuple[int, int, str]
"""A header line in a datagram: (its start, its end past the CRLF, its value)."""
#: scan_relay's answer: (status, method, uri, first header offset, to, call_id, cseq,
#: max_forwards, from, vias, routes).
Relay = tuple[int, str, str, int, str, str, str, Span | None, Span | None, list[Span], list[Span]]

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
scan_via = _scan_via


class StreamFramer:
    """Cuts a byte stream (TCP) into messages by Content-Length (RFC 3261 18.3).

    On a stream, Content-Length is mandatory; a missing one or a message larger than
    ``max_size`` is a SipParseError, after which the connection should be closed.
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
                    raise SipParseError("Message Too Large", status=513)
                return out
            head = bytes(self._buf[:end])
            m = _CONTENT_LENGTH.search(head)
            if m is None:
                raise SipParseError("Missing Content-Length")
            if len(m.group(1)) > 9:  # int() of a huge digit string is slow and refused
                raise SipParseError("Message Too Large", status=513)
            total = end + 4 + int(m.group(1))
            if total > self._max:
                raise SipParseError("Message Too Large", status=513)
            if len(self._buf) < total:
                return out
            out.append(bytes(self._buf[:total]))
            del self._buf[:total]
