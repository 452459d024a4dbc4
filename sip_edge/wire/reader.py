"""The reference parser in Python: every rule of RFC 3261 7 and 20 this edge checks.

One datagram is one message (RFC 3261 18.3). Header names are case-insensitive and have
compact forms (7.3.3); header lines may be folded (7.3.1); a Via, Route or Record-Route
line with comma-separated values is split into one entry per value (7.3.1 makes the two
forms equivalent), so the top value is always ``headers[first]``.

Every parse error is a :class:`SipParseError` carrying the status to answer (400, 416 for
an unsupported URI scheme, 505 for another SIP version) and, when the headers got that
far, the partial message, so ``receive()`` can decide between an answer and a silent
drop. The C scanner (``scanner``) takes the well-formed messages in one pass and declines
anything else to this module, which decides every error; ``tests/sip/test_wire.py`` holds
the two together, ``tests/sip/test_rfc4475.py`` holds this one to RFC 4475.
"""

from __future__ import annotations

import re

from .model import (
    CANONICAL,
    COMPACT,
    MAX_HEADERS,
    MAX_MESSAGE_BYTES,
    Message,
    NameAddr,
    SipParseError,
    Via,
    is_digits,
)

__all__ = [
    "name_addr_valid",
    "parse_message_py",
    "parse_name_addr",
    "parse_via_py",
    "uri_hostport",
    "uri_user",
    "via_valid",
]

#: Headers whose comma-separated values are split into entries (RFC 3261 7.3.1).
_SPLIT = frozenset(("via", "route", "record-route"))
_TOKEN = re.compile(r"^[A-Za-z0-9.!%*_+`'~-]+$")
_VIA = re.compile(r"^SIP\s*/\s*2\.0\s*/\s*([A-Za-z]+)\s+([^;\s]+)\s*(;.*)?$", re.S)
_URI_SCHEMES = ("sip:", "sips:", "tel:")
_VERSION = re.compile(r"^SIP/[0-9]+\.[0-9]+$")
_MANDATORY = ("via", "from", "to", "call-id", "cseq")
#: Headers a message carries at most once (RFC 3261 7.3.1: they are not lists).
_ONCE = ("from", "to", "call-id", "cseq", "max-forwards")
#: Header names seen before (as written) -> key: skips validation on the common path.
_NAMES: dict[str, str] = {}
_NAMES_MAX = 2048


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
        _check_request(msg, method)
    msg.top_via()  # the top Via must be usable to answer


def _check_request(msg: Message, cseq_method: str) -> None:
    """What a request's start line and Max-Forwards must be (RFC 3261 8.1.1, 8.2.2.1)."""
    if cseq_method != msg.method:
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


#: Parsed name-addrs by value: a proxy reads the same From five times per INVITE (loop
#: hash, caller identity, CLIR, the rewrite, the site hold). Bounded: emptied when full.
_NAME_ADDRS: dict[str, NameAddr] = {}
_NAME_ADDRS_MAX = 4096


def parse_name_addr(value: str) -> NameAddr:
    """Parse a name-addr or addr-spec header value (RFC 3261 20.10, 20.20).

    The result is shared between callers that parse the same value: never change it.
    """
    cached = _NAME_ADDRS.get(value)
    if cached is not None:
        return cached
    parsed = _parse_name_addr(value)
    if len(_NAME_ADDRS) >= _NAME_ADDRS_MAX:
        _NAME_ADDRS.clear()
    _NAME_ADDRS[value] = parsed
    return parsed


def _parse_name_addr(value: str) -> NameAddr:
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
