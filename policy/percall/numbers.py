"""Dial string -> canonical E.164 digits without "+" (DESIGN.md, section Numbers)."""

from __future__ import annotations

import json

from policy.errors import PolicyError

__all__ = [
    "MAX_E164_DIGITS",
    "NumberError",
    "canonical",
    "canonical_prefix",
    "geographic_area_code",
]

# ITU-T E.164 clause 6: an international number has at most 15 digits, country code included.
MAX_E164_DIGITS = 15
# A 1-3 digit country code needs a subscriber number after it; shorter results are not
# callable (DESIGN.md Numbers, brief). "49" + a 3-digit service code is already 5.
_MIN_DIGITS = 3
# How much of an offending input an error keeps, so a megabyte of garbage stays out of logs.
_FOUND_LIMIT = 64

_INVALID = "invalid_number"
_INCOMPLETE = "incomplete_number"
_CARRIER = "carrier_selection"

_EXPECT_CHARS = 'digits, "+", "00", "0" or a German service code'
_EXPECT_SERVICE = "a German service code: 110, 112, 115, 116xyz, 118xy or 1180xy"
_EXPECT_SERVICE_COMPLETE = "a complete German service code: 110, 112, 115, 116xyz, 118xy or 1180xy"
_EXPECT_COUNTRY = "a country code (first digit 1-9) after the international prefix"
_EXPECT_TRUNK = 'no trunk "0" after the country code 49 (write +49 30 123456 or +49 (0)30 123456)'
_EXPECT_CARRIER = (
    "the number without the carrier prefix: "
    "call-by-call carrier selection 010xy/0100xy is not supported"
)
_EXPECT_AREA = (
    "an area code: this local number needs the account's area code, and none is set "
    "(dial 0 + area code + number)"
)
_EXPECT_NOT_011 = (
    "a national number outside the unassigned range (0)11; service codes 110, 112, 115, "
    "116xyz and 118xy are dialled without 0"
)
_EXPECT_SIP_USER = "a SIP URI with a user part, like sip:+4930123456@example.net"
_EXPECT_PREFIX = 'a prefix starting with "+", "00", "0" or "1"'
_EXPECT_PREFIX_SERVICE = (
    "a German service code or a prefix of one: 110, 112, 115, 116xyz, 118xy or 1180xy"
)
_EXPECT_PREFIX_DIGITS = "at least one digit after the international prefix"


class NumberError(PolicyError, ValueError):
    """A dial string that is not a callable number, with a stable `reason` code."""

    reason: str
    """One of "invalid_number", "incomplete_number", "carrier_selection"."""
    found: str
    """The offending input, truncated to 64 characters."""
    expected: str
    """What a callable number looks like, without the word "expected" (as RuleError takes it)."""
    message: str
    """What was found and what was expected; str(error) is "<reason>: <message>"."""

    def __init__(self, reason: str, found: str, expected: str) -> None:
        """Build the error; `found` is truncated here so callers can pass the raw input."""
        self.reason = reason
        self.found = found[:_FOUND_LIMIT]
        self.expected = expected
        self._truncated = len(found) > _FOUND_LIMIT
        # json.dumps quotes and escapes quotes, backslashes and control characters, so the
        # message stays one readable line whatever the caller sent.
        shown = json.dumps(self.found, ensure_ascii=False)
        if self._truncated:
            shown += "…"
        self.message = f"{shown} — expected {expected}"
        super().__init__(f"{reason}: {self.message}")

    def __reduce__(self) -> tuple[type[NumberError], tuple[str, str, str]]:
        """Pickle by constructor arguments (the default would call __init__ with one)."""
        # A truncated `found` gets one extra character so the copy shows the "…" as well.
        found = self.found + ("…" if self._truncated else "")
        return (type(self), (self.reason, found, self.expected))


def _service_codes() -> tuple[frozenset[str], frozenset[str]]:
    """Return the German service codes and their proper prefixes (DESIGN.md Numbers)."""
    # 110 police, 112 fire/ambulance, 115 authorities, 116xyz EU social-value services,
    # 118xy (x 1-9) and 1180xy directory services (german-numbering.md, BNetzA plan).
    codes = {"110", "112", "115"}
    codes.update(f"116{n:03d}" for n in range(1000))
    codes.update(f"118{n:02d}" for n in range(10, 100))
    codes.update(f"1180{n:02d}" for n in range(100))
    prefixes = {code[:i] for code in codes for i in range(1, len(code))}
    return frozenset(codes), frozenset(prefixes - codes)


_SERVICE_CODES, _SERVICE_PREFIXES = _service_codes()

# Visual separators: RFC 3966 section 5.1.1 ("-", ".", "(", ")"), plus space and "/" (the
# older German way of writing "030/123456"). Deleted with bytes.translate, about 4x faster
# than str.translate with a dict table.
_SEPARATORS = b" ()-/."


def _without_separators(text: str) -> str:
    """Return ASCII text with the visual separators deleted."""
    return text.encode("ascii").translate(None, _SEPARATORS).decode("ascii")


# Digit strings after "+"/"00" that are never a canonical key: country codes start with 1-9
# (ITU-T E.164), and German numbers never start with 0 (a trunk 0) or 10 (carrier selection).
_NOT_CANONICAL = ("0", "490", "4910")
# National prefixes the fast path leaves to the full rules: 010 (carrier selection) and 011
# (unassigned; its canonical form would collide with the service codes 11x).
_NOT_NATIONAL = ("10", "11")

# Memo of account area codes already checked by _area, raw form -> without trunk 0, so the
# local-number path costs one dict lookup. Bounded: cleared when it reaches _AREA_MEMO_LIMIT.
_AREA_MEMO: dict[str, str] = {}
_AREA_MEMO_LIMIT = 1 << 16


def canonical(dial: str, area_code: str = "") -> str:
    """Return the E.164 digits (no "+") for a dial string, or raise NumberError."""
    # Fast path for the shapes a SIP edge sees on nearly every call; it only ever returns what
    # _canonical_text would, and leaves everything else (and every error) to it. isascii() is
    # O(1) and keeps out Unicode digits, which isdigit() would accept. The length literals are
    # MAX_E164_DIGITS (15) less what "49" and the prefixes add; literals avoid global lookups.
    if dial.isascii():
        if dial.isdigit():
            first = dial[0]
            if first == "0":
                if dial[1:2] == "0":
                    digits = dial[2:]
                    if 3 <= len(digits) <= 15 and not digits.startswith(_NOT_CANONICAL):
                        return digits
                elif 2 <= len(dial) <= 14 and dial[1:3] not in _NOT_NATIONAL:
                    return "49" + dial[1:]
            elif first != "1":
                code = _AREA_MEMO.get(area_code)
                if code is not None and len(code) + len(dial) <= 13:
                    return "49" + code + dial
        elif dial[:1] == "+":
            digits = dial[1:]
            if (
                digits.isdigit()
                and 3 <= len(digits) <= 15
                and not digits.startswith(_NOT_CANONICAL)
            ):
                return digits
    return _canonical_text(dial, area_code)


def _canonical_text(dial: str, area_code: str) -> str:
    """Canonicalise any dial string (URIs, separators, errors): the complete rules."""
    if dial.isascii() and dial.isdigit():
        return _from_digits(dial, area_code, dial)
    plus, digits = _extract(dial)
    if plus:
        return _international(digits, dial)
    if not digits:
        raise NumberError(_INVALID, dial, _EXPECT_CHARS)
    return _from_digits(digits, area_code, dial)


def _from_digits(digits: str, area_code: str, dial: str) -> str:
    """Canonicalise a non-empty string of ASCII digits that had no leading "+"."""
    first = digits[0]
    if first == "0":
        if digits[1:2] == "0":
            return _international(digits[2:], dial)
        if digits[1:3] == "10":
            # 010xy / 0100xy select a carrier per call; they are not a destination
            # (DESIGN.md Numbers, german-numbering.md).
            raise NumberError(_CARRIER, dial, _EXPECT_CARRIER)
        if digits[1:3] == "11":
            # (0)11 is unassigned, and "49" + "11…" is where the service codes 110/112/115/
            # 116/118 live: a national 0112… must never become the emergency number 112.
            raise NumberError(_INVALID, dial, _EXPECT_NOT_011)
        return _checked_length("49" + digits[1:], dial)
    if first == "1":
        if digits in _SERVICE_CODES:
            return "49" + digits
        if digits in _SERVICE_PREFIXES:
            raise NumberError(_INCOMPLETE, dial, _EXPECT_SERVICE_COMPLETE)
        raise NumberError(_INVALID, dial, _EXPECT_SERVICE)
    # First digit 2-9: a subscriber number in the account's own local network.
    return _checked_length("49" + _area(area_code, dial) + digits, dial)


def _international(digits: str, dial: str) -> str:
    """Canonicalise the digits after "+" or "00"."""
    if not digits:
        raise NumberError(_INVALID, dial, _EXPECT_COUNTRY)
    if digits[0] == "0":
        # E.164 country codes start with 1-9; "000" or "+0" is a dialling mistake.
        raise NumberError(_INVALID, dial, _EXPECT_COUNTRY)
    # German national numbers never start with 0, and 10 is only carrier selection: keeping
    # "+490…"/"+4910…" out of the canonical space makes canonical("+" + c) == c hold.
    if digits.startswith("490"):
        raise NumberError(_INVALID, dial, _EXPECT_TRUNK)
    if digits.startswith("4910"):
        raise NumberError(_CARRIER, dial, _EXPECT_CARRIER)
    return _checked_length(digits, dial)


def _checked_length(digits: str, dial: str) -> str:
    """Return digits if their length fits 3..15 (ITU-T E.164), else raise invalid_number."""
    n = len(digits)
    if n > MAX_E164_DIGITS:
        expected = f"at most {MAX_E164_DIGITS} digits (ITU-T E.164); this has {n}"
        raise NumberError(_INVALID, dial, expected)
    if n < _MIN_DIGITS:
        raise NumberError(
            _INVALID, dial, f"at least {_MIN_DIGITS} digits in E.164 form; this has {n}"
        )
    return digits


def _area(area_code: str, dial: str) -> str:
    """Return the account's area code without trunk "0"; a bad one is a ValueError."""
    if not area_code:
        raise NumberError(_INCOMPLETE, dial, _EXPECT_AREA)
    code = _AREA_MEMO.get(area_code)
    if code is not None:
        return code
    code = area_code[1:] if area_code[0] == "0" else area_code
    # German geographic area codes are 2-5 digits after the trunk 0 and start with 2-9
    # (german-numbering.md). A bad one is account data gone wrong, not a bad dial string,
    # so it is deliberately not a NumberError.
    if not (2 <= len(code) <= 5 and code.isascii() and code.isdigit() and code[0] not in "01"):
        raise ValueError(f"area_code {area_code!r} is not a German area code (like 30 or 030)")
    if len(_AREA_MEMO) >= _AREA_MEMO_LIMIT:
        _AREA_MEMO.clear()
    _AREA_MEMO[area_code] = code
    return code


def _extract(dial: str) -> tuple[bool, str]:
    """Return (had "+", ASCII digits, maybe empty) from a dial string or URI, or raise."""
    text = _uri_user(dial.strip(" "), dial)
    # Only ASCII 0-9 count: no vanity letters, no "*"/"#", no Unicode digits, no second "+".
    if not text.isascii():
        raise NumberError(_INVALID, dial, _EXPECT_CHARS)
    if "(0)" in text:
        text = _drop_trunk_zero(text)
    stripped = _without_separators(text)
    plus = stripped[:1] == "+"
    digits = stripped[1:] if plus else stripped
    if digits and not digits.isdigit():
        raise NumberError(_INVALID, dial, _EXPECT_CHARS)
    return plus, digits


def _uri_user(text: str, dial: str) -> str:
    """Return the number part of a tel:/sip:/sips: URI, or text itself if it is no URI."""
    if text[:1] == "<" and text[-1:] == ">":
        text = text[1:-1]
    scheme, colon, rest = text.partition(":")
    if not colon:
        return text
    scheme = scheme.lower()
    if scheme in ("sip", "sips"):
        # RFC 3261 section 19.1.1: the user part is everything before "@". Without one the
        # URI names a host only, and "sip:88.1.2.3" must not pass as a local number.
        user, at, _host = rest.partition("@")
        if not at:
            raise NumberError(_INVALID, dial, _EXPECT_SIP_USER)
        rest = user
    elif scheme != "tel":
        raise NumberError(_INVALID, dial, _EXPECT_CHARS)
    # RFC 3966 section 3: parameters (";phone-context=", ";isub=", ";ext=") follow the
    # number; sip user parts carry them the same way (RFC 3261 section 19.1.6). They do not
    # change the canonical key, so they are dropped unread.
    return rest.partition(";")[0]


def _drop_trunk_zero(text: str) -> str:
    """Drop a "(0)" trunk prefix written right after the country code ("+49 (0)30")."""
    head, _, tail = text.partition("(0)")
    cc = _without_separators(head)
    if cc[:1] == "+":
        cc = cc[1:]
    elif cc[:2] == "00":
        cc = cc[2:]
    else:
        # A national number: the parentheses are plain separators and the 0 is the trunk 0.
        return text
    # E.164 country codes have 1-3 digits; "(0)" anywhere else is not a trunk prefix.
    if 1 <= len(cc) <= 3 and cc.isdigit():
        return head + " " + tail
    return text


def canonical_prefix(text: str) -> str:
    """Return the canonical digits of a prefix in an operator rule file, or raise NumberError."""
    plus, digits = _extract(text)
    if not plus:
        if not digits:
            raise NumberError(_INVALID, text, _EXPECT_PREFIX)
        first = digits[0]
        if first == "0" and digits[1:2] == "0":
            plus, digits = True, digits[2:]
        elif first == "0":
            # Carrier selection 010 is allowed here: the numbering plan names it as a category.
            return _checked_prefix_length("49" + digits[1:], text)
        elif first == "1":
            if digits in _SERVICE_CODES or digits in _SERVICE_PREFIXES:
                return "49" + digits
            raise NumberError(_INVALID, text, _EXPECT_PREFIX_SERVICE)
        else:
            # 2-9 would be a local number, and a rule file has no area code to put before it.
            raise NumberError(_INVALID, text, _EXPECT_PREFIX)
    if not digits:
        raise NumberError(_INVALID, text, _EXPECT_PREFIX_DIGITS)
    if digits[0] == "0":
        raise NumberError(_INVALID, text, _EXPECT_COUNTRY)
    if digits[:3] == "490":
        raise NumberError(_INVALID, text, _EXPECT_TRUNK)
    return _checked_prefix_length(digits, text)


def _checked_prefix_length(digits: str, text: str) -> str:
    """Return prefix digits if they fit E.164 (at most 15), else raise invalid_number."""
    if len(digits) > MAX_E164_DIGITS:
        n = len(digits)
        expected = f"at most {MAX_E164_DIGITS} digits (ITU-T E.164); this has {n}"
        raise NumberError(_INVALID, text, expected)
    return digits


def geographic_area_code(number: str) -> str | None:
    """The area code (without 0) of a German geographic number, else None (load/API time).

    phonenumbers knows the ~5,200 area codes (german-numbering.md) but calls 032 (national
    subscriber numbers, not tied to a place) "area code 32": those are excluded here.
    About 17 us a parse: never on the per-call path.
    """
    import phonenumbers

    if not number.startswith("49") or number.startswith(("4932", "4931")):
        return None
    try:
        parsed = phonenumbers.parse("+" + number)
    except phonenumbers.NumberParseException:
        return None
    n = phonenumbers.length_of_geographical_area_code(parsed)
    return str(parsed.national_number)[:n] if n else None
