# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The fast path of the SIP parser: one pass over a well-formed message in C.

``scan(data, max_size)`` returns ``(method, uri, status, reason, headers, body, first)``
exactly as ``reader.parse_message_py`` would build them (``first``: each key's first
entry, the Message's header index), or None whenever the message is not in
the shape this path handles: anything unusual (folded lines, bare LF or CR, a header line
that is not ``token: value``, conflicting or bad Content-Length, a missing mandatory
header, a repeated From/To/Call-ID/CSeq/Max-Forwards, a Via that is not plain, quotes in
From/To, a Request-URI with ``<``, ``>`` or ``?``, a bad CSeq, Max-Forwards or URI scheme
...). For None the caller runs the
pure-Python parser, which is the reference: it decides the error and its status, so the
two paths cannot disagree on what is wrong. ``tests/sip/test_wire.py`` holds this path to
the reference on fixtures, mutations and generated messages.

Why C: parsing was half the edge's CPU per call (benchmarks/RESULTS.md, SIP edge); the
reference spends it in per-line Python calls (split, partition, strip, regex).
"""

cimport cython
from cpython.unicode cimport PyUnicode_DecodeLatin1
from libc.string cimport memcmp

cdef dict _compact = {}
cdef object _split = frozenset()
cdef Py_ssize_t _max_headers = 128
#: Raw header name (bytes, as written up to the colon) -> (key, name, code). Bounded.
cdef dict _names = {}
cdef Py_ssize_t _names_max = 2048
#: The same mapping in front of ``_names``: slots by a C hash of the raw name, so a name
#: seen before costs no bytes object and no Python hashing (most of a header's cost).
cdef enum:
    _SLOTS = 256
cdef list _slot_raw = [b""] * _SLOTS
cdef list _slot_out = [None] * _SLOTS

#: Small codes of the keys the walk checks, in place of string comparisons.
cdef enum:
    K_OTHER = 0
    K_VIA = 1
    K_FROM = 2
    K_TO = 3
    K_CALL_ID = 4
    K_CSEQ = 5
    K_LENGTH = 6
    K_MF = 7
    K_ROUTE = 8
    K_REQUIRE = 9
cdef dict _CODES = {
    "via": K_VIA, "from": K_FROM, "to": K_TO, "call-id": K_CALL_ID, "cseq": K_CSEQ,
    "content-length": K_LENGTH, "max-forwards": K_MF, "route": K_ROUTE,
    "require": K_REQUIRE, "proxy-require": K_REQUIRE,
}

#: What ``_scan`` builds: everything (``scan``), the head a refusal echoes
#: (``scan_head``), or the line spans a relay splices (``scan_relay``).
cdef enum:
    M_FULL = 0
    M_HEAD = 1
    M_RELAY = 2


@cython.freelist(64)
cdef class Span:
    """A header line in a datagram: where it starts, where it ends (past its CRLF), and
    its value."""

    cdef readonly Py_ssize_t start
    cdef readonly Py_ssize_t end
    cdef readonly str value

    def __repr__(self):
        return f"Span({self.start}, {self.end}, {self.value!r})"


cdef inline Span _span(Py_ssize_t start, Py_ssize_t end, str value):
    cdef Span span = Span.__new__(Span)
    span.start = start
    span.end = end
    span.value = value
    return span


@cython.freelist(8)
cdef class Head:
    """What :func:`scan_head` reads of a request: what a refusal needs."""

    cdef readonly str method
    cdef readonly str uri
    # The [key, name, value] entries of Via, From, Call-ID and CSeq in message order:
    # what a response copies (RFC 3261 8.2.6.2).
    cdef readonly list echoed
    # The first Via entry among them (the very list: a change shows in echoed).
    cdef readonly list top_via
    # The first value of To, Call-ID and Max-Forwards (None if absent).
    cdef readonly object to
    cdef readonly object call_id
    cdef readonly object max_forwards


@cython.freelist(8)
cdef class Relay:
    """What :func:`scan_relay` reads of a message in canonical form: the lines a relay
    changes (as :class:`Span` s) and the values it decides on."""

    cdef readonly int status  # 0 for a request
    cdef readonly str method
    cdef readonly str uri
    # Offset of the first header line (just past the start line's CRLF).
    cdef readonly Py_ssize_t first_header
    cdef readonly str to
    cdef readonly str call_id
    cdef readonly str cseq
    # The Max-Forwards and From lines (None if absent).
    cdef readonly Span max_forwards
    cdef readonly Span from_
    # Every Via and Route line, in order.
    cdef readonly list vias
    cdef readonly list routes


def configure(dict compact, split, Py_ssize_t max_headers):
    """Take the reference parser's tables, so both paths share one definition."""
    global _compact, _split, _max_headers
    _compact = dict(compact)
    _split = frozenset(split)
    _max_headers = max_headers
    _names.clear()
    for i in range(_SLOTS):
        _slot_raw[i] = b""
        _slot_out[i] = None


cdef inline bint _is_token(unsigned char c) noexcept nogil:
    # reader._TOKEN: [A-Za-z0-9.!%*_+`'~-]
    if (c >= 97 and c <= 122) or (c >= 65 and c <= 90) or (c >= 48 and c <= 57):
        return True
    return c == 46 or c == 33 or c == 37 or c == 42 or c == 95 or c == 43 or c == 96 \
        or c == 39 or c == 126 or c == 45


cdef inline bint _is_space(unsigned char c) noexcept nogil:
    # str.isspace() of the latin-1 code points: what the reference's str.strip() removes.
    return (c >= 9 and c <= 13) or (c >= 28 and c <= 32) or c == 0x85 or c == 0xA0


cdef inline bint _is_digit(unsigned char c) noexcept nogil:
    return c >= 48 and c <= 57


cdef inline str _text(const unsigned char* p, Py_ssize_t start, Py_ssize_t end):
    return PyUnicode_DecodeLatin1(<const char*>p + start, end - start, NULL)


cdef tuple _name_of(const unsigned char* p, Py_ssize_t start, Py_ssize_t end):
    """(key, name, code) of the header name p[start:end] (raw, as written), or None if bad."""
    cdef unsigned int h = 2166136261u  # FNV-1a
    cdef Py_ssize_t k
    for k in range(start, end):
        h = (h ^ p[k]) * 16777619u
    h &= _SLOTS - 1
    cdef bytes seen = <bytes>_slot_raw[h]
    if len(seen) == end - start and memcmp(<const char*>seen, p + start, end - start) == 0:
        return <tuple>_slot_out[h]
    cdef bytes raw = p[start:end]
    cdef object hit = _names.get(raw)
    if hit is not None:
        _slot_raw[h] = raw
        _slot_out[h] = hit
        return <tuple>hit
    cdef Py_ssize_t stop = end
    while stop > start and (p[stop - 1] == 32 or p[stop - 1] == 9):
        stop -= 1
    if stop == start:
        return None
    cdef Py_ssize_t i
    for i in range(start, stop):
        if not _is_token(p[i]):
            return None
    name = _text(p, start, end)
    key = _text(p, start, stop).lower()
    key = _compact.get(key, key)
    cdef tuple out = (key, name, _CODES.get(key, K_OTHER))
    if len(_names) < _names_max:
        _names[raw] = out
    _slot_raw[h] = raw
    _slot_out[h] = out
    return out


cdef list _split_values(const unsigned char* p, Py_ssize_t start, Py_ssize_t end):
    """reader._split_values over p[start:end] (already stripped); None: not handled."""
    cdef Py_ssize_t i, a, b, seg
    cdef unsigned char c
    cdef bint nested = False
    cdef bint comma = False
    for i in range(start, end):
        if p[i] == 44:
            comma = True
        elif p[i] == 34 or p[i] == 60:
            nested = True
    if not comma:
        return [_text(p, start, end)]
    cdef list cuts = []  # segment boundaries
    cdef int depth = 0
    cdef bint quoted = False
    seg = start
    i = start
    while i < end:
        c = p[i]
        if nested:
            if quoted:
                if c == 92:
                    i += 1
                elif c == 34:
                    quoted = False
            elif c == 34:
                quoted = True
            elif c == 60:
                depth += 1
            elif c == 62:
                depth = depth - 1 if depth > 0 else 0
            elif c == 44 and depth == 0:
                cuts.append((seg, i))
                seg = i + 1
        elif c == 44:
            cuts.append((seg, i))
            seg = i + 1
        i += 1
    cuts.append((seg, end))
    cdef list out = []
    for a, b in cuts:
        while a < b and _is_space(p[a]):
            a += 1
        while b > a and _is_space(p[b - 1]):
            b -= 1
        if b > a:
            for i in range(a, b):
                if p[i] == 44:
                    return None  # a comma kept inside <> or quotes: the reference's turn
            out.append(_text(p, a, b))
    return out


cdef bint _ci_prefix(const unsigned char* p, Py_ssize_t start, Py_ssize_t end, bytes lower):
    cdef Py_ssize_t n = len(lower)
    cdef const unsigned char* q = lower
    cdef Py_ssize_t i
    cdef unsigned char c
    if end - start < n:
        return False
    for i in range(n):
        c = p[start + i]
        if c >= 65 and c <= 90:
            c += 32
        if c != q[i]:
            return False
    return True


def scan(bytes data, Py_ssize_t max_size):
    """(method, uri, status, reason, headers, body) of a well-formed message, else None."""
    return _scan(data, max_size, M_FULL)


def scan_head(bytes data, Py_ssize_t max_size):
    """The head of a well-formed request, read only as far as a refusal needs, else None.

    A :class:`Head`. Accepts exactly what :func:`scan` accepts (the same walk and
    checks) but a request with Require or Proxy-Require (its 420 is the full path's),
    without building the other headers: the refusal fast path
    (``proxy.EdgeCore._refuse_fast``) pays for five headers, not all of them. Responses
    are None.
    """
    return _scan(data, max_size, M_HEAD)


def scan_relay(bytes data, Py_ssize_t max_size):
    """Where the lines a relay changes are, in a well-formed message in canonical form,
    else None.

    A :class:`Relay`, its lines as :class:`Span` s.

    Accepts a subset of what :func:`scan` accepts: the messages whose bytes are exactly
    what ``Message.serialize`` would write of their parse, so that a relay splicing
    lines (``proxy.EdgeCore._relay_fast``) sends what the full path would. Canonical:
    every header line is ``Name: value`` with one space and no padding, a Via, Route or
    Record-Route line holds one value, at most one From and one Max-Forwards, a
    response has a reason phrase, and the last header line is ``Content-Length`` giving
    the exact length of the body, and (a request) no Require or Proxy-Require.
    """
    return _scan(data, max_size, M_RELAY)


cdef object _scan(bytes data, Py_ssize_t max_size, int mode):
    cdef const unsigned char* p = data
    cdef Py_ssize_t n = len(data)
    cdef Py_ssize_t i, line, eol, colon, vs, ve, sp1, sp2, head_end
    cdef Py_ssize_t uri_start = 0, uri_end = 0
    cdef unsigned char c
    cdef bint light = mode != M_FULL  # only the headers that mode needs are built
    cdef bint relay = mode == M_RELAY
    if n == 0 or n > max_size or p[0] == 13 or p[0] == 10:
        return None
    # The head ends at the first empty line; every line break in it must be CRLF.
    head_end = -1
    i = 0
    while i < n:
        c = p[i]
        if c == 13:
            if i + 1 >= n or p[i + 1] != 10:
                return None
            if i + 3 < n and p[i + 2] == 13 and p[i + 3] == 10:
                head_end = i
                break
            i += 2
            continue
        if c == 10:
            return None
        i += 1
    if head_end < 0:
        return None

    # Start line.
    eol = 0
    while p[eol] != 13:
        eol += 1
    method = ""
    uri = ""
    reason = ""
    cdef int status = 0
    if eol >= 4 and p[0] == 83 and p[1] == 73 and p[2] == 80 and p[3] == 47:  # "SIP/"
        if eol < 11 or data[:8] != b"SIP/2.0 ":
            return None
        if not (_is_digit(p[8]) and _is_digit(p[9]) and _is_digit(p[10])):
            return None
        status = (p[8] - 48) * 100 + (p[9] - 48) * 10 + (p[10] - 48)
        if status < 100 or status > 699:
            return None
        if eol > 11:
            if p[11] != 32:
                return None
            reason = _text(p, 12, eol)
        elif relay:
            return None  # serialize() would write "SIP/2.0 200 " with its space
    else:
        sp1 = -1
        sp2 = -1
        for i in range(eol):
            if p[i] == 32:
                if sp1 < 0:
                    sp1 = i
                elif sp2 < 0:
                    sp2 = i
                else:
                    return None
        if sp1 <= 0 or sp2 < 0 or sp2 == sp1 + 1:
            return None
        if eol - sp2 - 1 != 7 or data[sp2 + 1 : eol] != b"SIP/2.0":
            return None
        for i in range(sp1):
            if not _is_token(p[i]):
                return None
        method = _text(p, 0, sp1)
        uri_start, uri_end = sp1 + 1, sp2
        for i in range(uri_start, uri_end):
            if p[i] == 60 or p[i] == 62 or p[i] == 63:
                return None  # "<", ">", "?": the reference judges the Request-URI
        uri = _text(p, uri_start, uri_end)

    if mode == M_HEAD and status != 0:
        return None
    cdef Py_ssize_t h0 = eol + 2

    # Header lines: "name: value", no folding (a leading SP/HTAB is the reference's job).
    cdef list headers = []
    cdef Py_ssize_t count = 0  # header values (light: not kept)
    cdef dict first = {}  # key -> first entry (Message's index)
    cdef list entry
    cdef tuple kn
    cdef int code
    cdef list values
    cdef object cl = None
    cdef int seen = 0  # bits: via 1, from 2, to 4, call-id 8, cseq 16
    # Relay: line spans (start, end past CRLF, value) of what a relay changes.
    cdef list vias = []
    cdef list routes = []
    cdef Span from_span = None
    cdef Span mf_span = None
    cdef Py_ssize_t cl_end = -1
    line = eol + 2
    while line < head_end + 2:
        eol = line
        while p[eol] != 13:
            eol += 1
        if p[line] == 32 or p[line] == 9:
            return None
        colon = line
        while colon < eol and p[colon] != 58:
            colon += 1
        if colon == eol:
            return None
        kn = _name_of(p, line, colon)
        if kn is None:
            return None
        key = kn[0]
        code = kn[2]
        if code == K_REQUIRE and light and status == 0:
            return None  # Require/Proxy-Require: the full path's (420, RFC 3261 8.2.2.3, 16.3)
        vs = colon + 1
        ve = eol
        while vs < ve and _is_space(p[vs]):
            vs += 1
        while ve > vs and _is_space(p[ve - 1]):
            ve -= 1
        if relay and (vs != colon + 2 or p[colon + 1] != 32 or ve != eol or vs >= ve):
            return None  # not "Name: value": serialize() would write it otherwise
        if key in _split:
            values = _split_values(p, vs, ve)
            if values is None:
                return None
            if relay:
                for i in range(vs, ve):
                    if p[i] == 44:
                        # serialize() writes each value on a line of its own, and drops
                        # the empty ones (a stray leading or trailing comma)
                        return None
                if code == K_VIA:
                    vias.append(_span(line, eol + 2, values[0]))
                elif code == K_ROUTE:
                    routes.append(_span(line, eol + 2, values[0]))
            count += len(values)
            if not light or code == K_VIA:
                for value in values:
                    entry = [key, kn[1], value]
                    headers.append(entry)
                    if key not in first:
                        first[key] = entry
            if code == K_VIA:
                if len(values) == 1 and not _via_plain(p, vs, ve):
                    return None  # the reference's: maybe empty parameters (400)
                if len(values) > 1:
                    for value in values:
                        b = (<str>value).encode("latin-1")
                        if not _via_plain(<const unsigned char*>b, 0, len(b)):
                            return None
                if values:
                    seen |= 1
        elif light and (code == K_OTHER or code == K_ROUTE):
            count += 1
        else:
            count += 1
            value = _text(p, vs, ve)
            entry = [key, kn[1], value]
            if not light or code == K_FROM or code == K_CALL_ID or code == K_CSEQ:
                headers.append(entry)
            if key not in first:
                first[key] = entry
            if code == K_FROM:
                if seen & 2 or not _name_addr_plain(p, vs, ve):
                    return None  # a second From (400), or quotes the reference judges
                if relay:
                    from_span = _span(line, eol + 2, value)
                seen |= 2
            elif code == K_TO:
                if seen & 4 or not _name_addr_plain(p, vs, ve):
                    return None
                seen |= 4
            elif code == K_CALL_ID:
                if seen & 8:
                    return None
                seen |= 8
            elif code == K_CSEQ:
                if seen & 16:
                    return None
                seen |= 16
            elif code == K_LENGTH:
                if cl is None:
                    cl = value
                elif cl != value:
                    return None
                if relay:
                    if kn[1] != "Content-Length":
                        return None  # serialize() writes this spelling, last
                    cl_end = eol + 2
            elif code == K_MF:
                if seen & 32:
                    return None
                seen |= 32
                if relay:
                    mf_span = _span(line, eol + 2, value)
        if count > _max_headers:
            return None
        line = eol + 2
    if seen & 31 != 31:  # a mandatory header is missing: the reference names it
        return None
    if relay and cl_end != head_end + 2:
        return None  # no Content-Length, or not the last line (serialize() moves it)

    body_start = head_end + 4
    body = None
    if cl is not None:
        if not _digits(cl, 9):
            return None
        length = int(cl)
        if length > n - body_start:
            return None
        if relay and (length != n - body_start or str(length) != cl):
            return None  # bytes past the body, or a length serialize() would respell
        if not light:
            body = data[body_start : body_start + length]
    elif not light:
        body = data[body_start:]

    # The checks of reader._check: CSeq, Max-Forwards, URI scheme (duplicates, Via and
    # From/To were checked line by line above).
    # The first value of each (``first``; ``seen`` says the mandatory ones are there).
    cseq = first["cseq"][2]
    entry = first.get("max-forwards")
    mf = entry[2] if entry is not None else None
    num, _, cmethod = (<str>cseq).partition(" ")
    num = num.strip()
    cmethod = cmethod.strip()
    if not _digits(num, 10) or int(num) >= 2147483648 or not _token_str(cmethod):
        return None
    if status == 0:
        if cmethod != method:
            return None
        if mf is not None and (not _digits(mf, 10) or int(mf) > 255):
            return None
        if not (
            _ci_prefix(p, uri_start, uri_end, b"sip:")
            or _ci_prefix(p, uri_start, uri_end, b"sips:")
            or _ci_prefix(p, uri_start, uri_end, b"tel:")
        ):
            return None
    cdef Relay out
    cdef Head head
    if relay:
        out = Relay.__new__(Relay)
        out.status = status
        out.method = method
        out.uri = uri
        out.first_header = h0
        out.to = first["to"][2]
        out.call_id = first["call-id"][2]
        out.cseq = cseq
        out.max_forwards = mf_span
        out.from_ = from_span
        out.vias = vias
        out.routes = routes
        return out
    if light:
        head = Head.__new__(Head)
        head.method = method
        head.uri = uri
        head.echoed = headers
        head.top_via = first["via"]
        head.to = first["to"][2]
        head.call_id = first["call-id"][2]
        head.max_forwards = mf
        return head
    return method, uri, status, reason, headers, body, first




cdef bint _digits(str text, Py_ssize_t most):
    """model.is_digits(text) and len(text) <= most."""
    cdef Py_ssize_t n = len(text)
    if n == 0 or n > most:
        return False
    for ch in text:
        if ch < "0" or ch > "9":
            return False
    return True


cdef bint _via_plain(const unsigned char* p, Py_ssize_t a, Py_ssize_t b) noexcept:
    """p[a:b] is ``SIP/2.0/TRANSPORT sent-by(;name[=value])*`` in printable ASCII, one
    SP, every parameter named: a Via the reference takes as valid (``via_valid``)."""
    cdef Py_ssize_t i = a + 8
    cdef Py_ssize_t start
    cdef bint named
    if b - a < 10 or memcmp(p + a, b"SIP/2.0/", 8) != 0:
        return False
    while i < b and ((p[i] >= 97 and p[i] <= 122) or (p[i] >= 65 and p[i] <= 90)):
        i += 1
    if i == a + 8 or i >= b or p[i] != 32:
        return False
    i += 1
    start = i
    while i < b and p[i] != 59:  # ";"
        if p[i] < 33 or p[i] > 126:
            return False
        i += 1
    if i == start:
        return False
    while i < b:  # at a ";"
        i += 1
        named = False
        while i < b and p[i] != 59 and p[i] != 61:  # up to ";" or "="
            if p[i] < 33 or p[i] > 126:
                return False
            named = True
            i += 1
        if not named:
            return False
        while i < b and p[i] != 59:
            if p[i] < 33 or p[i] > 126:
                return False
            i += 1
    return True


cdef bint _name_addr_plain(const unsigned char* p, Py_ssize_t a, Py_ssize_t b) noexcept:
    """p[a:b] is a From/To value the reference takes as valid (``name_addr_valid``) for
    sure: no quotes and tokens before ``<``, or one quoted display name then ``<``; and
    no quote after ``<``."""
    cdef Py_ssize_t i = a
    cdef Py_ssize_t lt = -1
    cdef unsigned char c
    if a < b and p[a] == 34:  # a quoted display name
        i = a + 1
        while i < b:
            c = p[i]
            if c == 92:  # quoted-pair
                i += 2
                continue
            if c == 34:
                break
            i += 1
        if i >= b:
            return False
        i += 1
        while i < b and (p[i] == 32 or p[i] == 9):
            i += 1
        if i >= b or p[i] != 60:
            return False
        lt = i
    else:
        while i < b and p[i] != 60:
            c = p[i]
            if c == 34:
                return False
            if lt < 0 and not (c == 32 or c == 9 or _is_token(c)):
                lt = -2  # not a display name: fine only without "<"
            i += 1
        if i >= b:
            return True  # addr-spec form (no "<"), no quotes: valid
        if lt == -2:
            return False
        lt = i
    for i in range(lt, b):
        if p[i] == 34:
            return False
    for i in range(lt, b):
        if p[i] == 62:
            return True
    return False


cdef bint _token_str(str text):
    if not text:
        return False
    for ch in text:
        if ord(ch) > 127 or not _is_token(<unsigned char>ord(ch)):
            return False
    return True


def scan_via(str value):
    """(transport, host, port, params) of a plain Via value, else None.

    Plain: ``SIP/2.0/TRANSPORT host[:port][;params]`` in printable ASCII with no other
    whitespace and no IPv6 reference; anything else is the reference's (parse_via_py).
    """
    cdef Py_ssize_t n = len(value)
    cdef Py_ssize_t i, j, colon
    cdef Py_UCS4 ch
    if n < 10 or not value.startswith("SIP/2.0/"):
        return None
    i = 8
    j = i
    while j < n:
        ch = value[j]
        if not ((ch >= u"a" and ch <= u"z") or (ch >= u"A" and ch <= u"Z")):
            break
        j += 1
    if j == i or j >= n or value[j] != u" ":
        return None
    transport = value[i:j].upper()
    i = j + 1
    j = i
    while j < n:
        ch = value[j]
        if ch == u";":
            break
        if ch < u"!" or ch > u"~":
            return None
        j += 1
    if j == i or value[i] == u"[":
        return None
    for colon in range(j, n):
        ch = value[colon]
        if ch < u"!" or ch > u"~":
            return None
    sent_by = value[i:j]
    colon = sent_by.find(":")
    port = None
    if colon < 0:
        host = sent_by
    else:
        host = sent_by[:colon]
        text = sent_by[colon + 1 :]
        if not _digits(text, 10):
            return None
        port = int(text)
        if not 0 < port < 65536:
            return None
    if not host:
        return None
    cdef dict params = {}
    if j < n:
        for part in value[j + 1 :].split(";"):
            name, _, val = part.partition("=")
            if name:
                params[name.lower()] = val
    return transport, host, port, params


# --- SDP: the codec check and the bandwidth share in one pass (sdp.c) -------------------

from libc.stdint cimport int64_t
from libc.stdlib cimport free, malloc

cdef extern from "sdp.h":
    ctypedef struct cp_sdp_entry:
        const char *media
        size_t media_len
        const char *name
        size_t name_len
        int voice
        int64_t share

    ctypedef struct cp_sdp_rules:
        const cp_sdp_entry *entries
        size_t n
        int64_t late_offer

    int cp_sdp_check(const cp_sdp_rules *r, const char *body, size_t len, int *acceptable,
                     int64_t *share) nogil


cdef class OfferCheck:
    """``offer_acceptable`` and ``offer_share`` of sip_edge/core/sdp.py in one C pass
    (sdp.c): built once per rules snapshot from what those two read, then
    ``check(body)`` -> (acceptable, bit/s), or None where sdp.c is not sure and the
    reference must answer.

    ``allowed``: media type -> allowed format names (lower-case); ``shares``: media type
    -> format name (lower-case) -> bit/s; ``ancillary``: names that never make an offer
    acceptable on their own; ``late_offer``: bit/s of an INVITE without SDP.
    """

    cdef cp_sdp_rules rules
    cdef cp_sdp_entry *entries
    cdef list _keep  # the bytes the entries point into

    def __cinit__(self, allowed, shares, ancillary, long long late_offer):
        cdef dict merged = {}
        for media, names in allowed.items():
            for name in names:
                merged[(media, name)] = (name not in ancillary, 0)
        for media, table in shares.items():
            for name, bps in table.items():
                voice = merged.get((media, name), (False, 0))[0]
                merged[(media, name)] = (voice, int(bps))
        self._keep = []
        self.entries = <cp_sdp_entry *>malloc(max(1, len(merged)) * sizeof(cp_sdp_entry))
        if self.entries == NULL:
            raise MemoryError()
        cdef size_t n = 0
        cdef bytes m, f
        for (media, name), (voice, bps) in merged.items():
            try:
                m = media.encode("latin-1")
                f = name.encode("latin-1")
            except UnicodeEncodeError:
                continue  # no Latin-1 body can spell it: it never matches (sdp.py either)
            self._keep += (m, f)
            self.entries[n].media = m
            self.entries[n].media_len = len(m)
            self.entries[n].name = f
            self.entries[n].name_len = len(f)
            self.entries[n].voice = 1 if voice else 0
            self.entries[n].share = bps
            n += 1
        self.rules.entries = self.entries
        self.rules.n = n
        self.rules.late_offer = late_offer

    def __dealloc__(self):
        free(self.entries)

    def check(self, bytes body):
        """(acceptable, bit/s) of the offer in ``body``, or None: ask the reference."""
        cdef int ok = 0
        cdef int64_t share = 0
        if not cp_sdp_check(&self.rules, body, len(body), &ok, &share):
            return None
        return ok != 0, share
