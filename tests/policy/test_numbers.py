"""Tests for policy.percall.numbers: dial string -> canonical E.164 digits (DESIGN.md, Numbers)."""

from __future__ import annotations

import pickle
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from policy.percall import numbers
from policy.percall.numbers import MAX_E164_DIGITS, NumberError, canonical, canonical_prefix

# (dial, area_code, canonical digits)
VALID: list[tuple[str, str, str]] = [
    # International with "+" and "00".
    ("+4930123456", "", "4930123456"),
    ("004930123456", "", "4930123456"),
    ("+14155550123", "", "14155550123"),
    ("00441632960961", "", "441632960961"),
    ("+881", "", "881"),
    ("+" + "4" * 15, "", "4" * 15),
    # National: "0" + national number -> "49" + number.
    ("030123456", "", "4930123456"),
    ("09001123456", "", "499001123456"),
    ("015112345678", "", "4915112345678"),
    ("0" + "3" * 13, "", "49" + "3" * 13),
    ("01", "", "491"),
    # Local subscriber numbers get the account's area code, given with or without trunk 0.
    ("234567", "30", "4930234567"),
    ("234567", "030", "4930234567"),
    ("4930123456", "30", "49304930123456"),
    ("2", "08821", "4988212"),
    ("9" * 8, "04321", "494321" + "9" * 8),
    # German service codes.
    ("110", "", "49110"),
    ("112", "30", "49112"),
    ("115", "", "49115"),
    ("116000", "", "49116000"),
    ("116117", "", "49116117"),
    ("11822", "", "4911822"),
    ("11899", "", "4911899"),
    ("118000", "", "49118000"),
    ("118099", "", "49118099"),
    # Visual separators (RFC 3966 section 5.1.1, plus space and "/").
    ("+49 30 123456", "", "4930123456"),
    ("+49-30-123-456", "", "4930123456"),
    ("(030) 123 456", "", "4930123456"),
    ("030/123456", "", "4930123456"),
    ("030.123.456", "", "4930123456"),
    ("  +49 30 123456  ", "", "4930123456"),
    ("(+49) 30 123456", "", "4930123456"),
    ("11 0", "", "49110"),
    # A "(0)" trunk prefix after the country code is dropped.
    ("+49 (0)30 123456", "", "4930123456"),
    ("+49(0)30-123456", "", "4930123456"),
    ("0049 (0) 30 123456", "", "4930123456"),
    ("+44 (0)20 7946 0000", "", "442079460000"),
    ("(0)30 123456", "", "4930123456"),
    # tel: and sip:/sips: URIs (RFC 3966, RFC 3261 section 19.1).
    ("tel:+49-30-123456", "", "4930123456"),
    ("TEL:+4930123456;phone-context=example.net", "", "4930123456"),
    ("tel:030123456;phone-context=+49", "", "4930123456"),
    ("sip:+4930123456@example.net", "", "4930123456"),
    ("sip:+4930123456@example.net;user=phone", "", "4930123456"),
    ("<sip:+4930123456@example.net;user=phone>", "", "4930123456"),
    ("Sips:030123456@example.net:5061", "", "4930123456"),
    ("sip:+49-30-123456;isub=12@example.net;user=phone", "", "4930123456"),
    ("sip:234567@pbx.example.net", "030", "4930234567"),
    ("sip:110@example.net", "", "49110"),
]

# (dial, area_code, reason, pinned message fragment)
INVALID: list[tuple[str, str, str, str]] = [
    ("", "", "invalid_number", r'^invalid_number: "" — expected digits, "\+", "00", "0"'),
    ("   ", "", "invalid_number", 'expected digits, "\\+", "00"'),
    ("0900x1", "", "invalid_number", r'^invalid_number: "0900x1" — expected digits, "\+"'),
    ("0800-FLOWERS", "", "invalid_number", "expected digits"),
    ("*31#030123456", "", "invalid_number", "expected digits"),
    ("030123456#", "", "invalid_number", "expected digits"),
    ("+49 30 12\u00a03456", "", "invalid_number", "expected digits"),
    ("０３０１２３４５６", "", "invalid_number", "expected digits"),
    ("\u0660\u0663\u0660123456", "", "invalid_number", "expected digits"),
    ("+49+30123456", "", "invalid_number", "expected digits"),
    ("030\t123456", "", "invalid_number", "expected digits"),
    ("mailto:030123456", "", "invalid_number", "expected digits"),
    ("sip:88.1.2.3", "", "invalid_number", "expected a SIP URI with a user part"),
    ("sip:pbx.example.net", "", "invalid_number", "expected a SIP URI with a user part"),
    ("sip:@example.net", "", "invalid_number", "expected digits"),
    ("tel:", "", "invalid_number", "expected digits"),
    ("+", "", "invalid_number", r"expected a country code \(first digit 1-9\)"),
    ("00", "", "invalid_number", "expected a country code"),
    ("000", "", "invalid_number", "expected a country code"),
    ("00049301234", "", "invalid_number", "expected a country code"),
    ("+0301234", "", "invalid_number", "expected a country code"),
    ("0", "", "invalid_number", "expected at least 3 digits in E.164 form; this has 2"),
    ("+12", "", "invalid_number", "expected at least 3 digits in E.164 form; this has 2"),
    ("+490301234", "", "invalid_number", 'expected no trunk "0" after the country code 49'),
    ("0049030123", "", "invalid_number", 'expected no trunk "0"'),
    ("+49 (0)0301234", "", "invalid_number", 'expected no trunk "0"'),
    (
        "+" + "4" * 16,
        "",
        "invalid_number",
        r"expected at most 15 digits \(ITU-T E.164\); this has 16",
    ),
    ("0" + "3" * 14, "", "invalid_number", "expected at most 15 digits"),
    ("1" * 1000, "", "invalid_number", "expected a German service code"),
    ("12345", "", "invalid_number", "expected a German service code: 110, 112, 115, 116xyz"),
    ("113", "", "invalid_number", "expected a German service code"),
    ("1101", "", "invalid_number", "expected a German service code"),
    ("1161170", "", "invalid_number", "expected a German service code"),
    ("118220", "", "invalid_number", "expected a German service code"),
    ("1", "", "incomplete_number", "expected a complete German service code"),
    ("11", "", "incomplete_number", "expected a complete German service code"),
    ("116", "", "incomplete_number", "expected a complete German service code"),
    ("1161", "", "incomplete_number", "expected a complete German service code"),
    ("11611", "", "incomplete_number", "expected a complete German service code"),
    ("1180", "", "incomplete_number", "expected a complete German service code"),
    ("11801", "", "incomplete_number", "expected a complete German service code"),
    ("234567", "", "incomplete_number", "needs the account's area code, and none is set"),
    ("sip:234567@example.net", "", "incomplete_number", "account's area code"),
    ("234567890123", "030", "invalid_number", "expected at most 15 digits"),
    (
        "01033 030123456",
        "",
        "carrier_selection",
        "expected the number without the carrier prefix: "
        "call-by-call carrier selection 010xy/0100xy is not supported$",
    ),
    ("0100 88 030 123456", "", "carrier_selection", "is not supported"),
    ("010", "", "carrier_selection", "carrier selection"),
    ("+49 1033 30123456", "", "carrier_selection", "carrier selection"),
    ("0049 10 0 88", "", "carrier_selection", "carrier selection"),
]


@pytest.mark.parametrize(("dial", "area_code", "expected"), VALID)
def test_canonical_valid(dial: str, area_code: str, expected: str) -> None:
    """Each valid dial string maps to its canonical digits."""
    assert canonical(dial, area_code) == expected


@pytest.mark.parametrize(("dial", "area_code", "reason", "match"), INVALID)
def test_canonical_invalid(dial: str, area_code: str, reason: str, match: str) -> None:
    """Each bad dial string raises NumberError with its reason and a pinned message."""
    with pytest.raises(NumberError, match=match) as info:
        canonical(dial, area_code)
    assert info.value.reason == reason
    assert str(info.value).startswith(f"{reason}: ")
    assert info.value.found == dial[:64]


def test_table_size() -> None:
    """The brief asks for at least 40 table cases."""
    assert len(VALID) + len(INVALID) >= 40


def test_error_message_format() -> None:
    """str(error) is '<reason>: "<found>" — <expected>', with quotes escaped."""
    error = NumberError("invalid_number", '09"00', "digits")
    assert str(error) == 'invalid_number: "09\\"00" — expected digits'
    assert error.message == '"09\\"00" — expected digits'
    assert (error.reason, error.found, error.expected) == (
        "invalid_number",
        '09"00',
        "digits",
    )
    assert isinstance(error, ValueError)


def test_error_found_is_truncated() -> None:
    """A long input is kept to 64 characters and the message marks the cut."""
    with pytest.raises(NumberError) as info:
        canonical("x" * 10_000)
    assert info.value.found == "x" * 64
    assert info.value.message.startswith('"' + "x" * 64 + '"… — ')


def test_error_pickles() -> None:
    """NumberError survives pickling (multiprocessing, logging handlers)."""
    for dial in ("0900x1", "y" * 100):
        with pytest.raises(NumberError) as info:
            canonical(dial)
        copy = pickle.loads(pickle.dumps(info.value))
        assert type(copy) is NumberError
        assert (copy.reason, copy.found, copy.expected, str(copy)) == (
            info.value.reason,
            info.value.found,
            info.value.expected,
            str(info.value),
        )


@pytest.mark.parametrize("area_code", ["3", "0", "00", "0030", "130", "x30", "123456", "３０"])
def test_bad_area_code_is_not_a_number_error(area_code: str) -> None:
    """A malformed account area code is bad account data: a plain ValueError."""
    with pytest.raises(ValueError, match=r"is not a German area code \(like 30 or 030\)") as info:
        canonical("234567", area_code)
    assert not isinstance(info.value, NumberError)


def test_area_code_only_read_for_local_numbers() -> None:
    """Numbers that do not need the area code ignore it, even a malformed one."""
    assert canonical("+4930123456", "bad") == "4930123456"
    assert canonical("030123456", "bad") == "4930123456"
    assert canonical("110", "bad") == "49110"


def test_area_code_memo_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The area-code memo is cleared when full and never changes a result."""
    monkeypatch.setattr(numbers, "_AREA_MEMO", {})
    monkeypatch.setattr(numbers, "_AREA_MEMO_LIMIT", 3)
    for code in ("30", "030", "40", "040", "89", "30"):
        assert canonical("234567", code) == f"49{code.lstrip('0')}234567"
        assert len(numbers._AREA_MEMO) <= 3


PREFIXES: list[tuple[str, str]] = [
    ("+881", "881"),
    ("+49 900", "49900"),
    ("0900", "49900"),
    ("09001", "499001"),
    ("0", "49"),
    ("118", "49118"),
    ("11822", "4911822"),
    ("110", "49110"),
    ("1", "491"),
    ("+1", "1"),
    ("0049", "49"),
    ("00 1", "1"),
    ("010", "4910"),
    ("0100", "49100"),
    ("+49 10", "4910"),
    ("+49 (0)30", "4930"),
    ("(0)137", "49137"),
    ("0" + "5" * 13, "49" + "5" * 13),
]

BAD_PREFIXES: list[tuple[str, str]] = [
    ("", 'expected a prefix starting with "\\+", "00", "0" or "1"'),
    (" - ", 'expected a prefix starting with "\\+"'),
    ("5", 'expected a prefix starting with "\\+", "00", "0" or "1"'),
    ("30", "expected a prefix starting with"),
    ("+", "expected at least one digit after the international prefix"),
    ("00", "expected at least one digit after the international prefix"),
    ("+0", "expected a country code"),
    ("000", "expected a country code"),
    ("+490", 'expected no trunk "0"'),
    ("12", "expected a German service code or a prefix of one"),
    ("1101", "expected a German service code or a prefix of one"),
    ("0900x", "expected digits"),
    ("0" + "5" * 15, "expected at most 15 digits"),
]


@pytest.mark.parametrize(("text", "expected"), PREFIXES)
def test_canonical_prefix_valid(text: str, expected: str) -> None:
    """Operator prefixes canonicalise like numbers but at any length from 1."""
    assert canonical_prefix(text) == expected


@pytest.mark.parametrize(("text", "match"), BAD_PREFIXES)
def test_canonical_prefix_invalid(text: str, match: str) -> None:
    """Bad operator prefixes raise invalid_number with a pinned message."""
    with pytest.raises(NumberError, match=match) as info:
        canonical_prefix(text)
    assert info.value.reason == "invalid_number"


# ---- Properties -------------------------------------------------------------------------

AREA_CODES = st.sampled_from(["", "30", "030", "89", "0221", "08821", "33203"])

_SEPARATOR = st.sampled_from(["", "", "", " ", "-", ".", "/", "(", ")", "(0)", " (0) "])
_NEAR_VALID_HEAD = st.sampled_from(
    ["", "+", "00", "0", "000", "+49", "0049", "+490", "010", "0100", "1", "11", "116", "118"]
)
_URI = st.sampled_from(
    [
        ("", ""),
        ("tel:", ""),
        ("tel:", ";phone-context=+49"),
        ("sip:", "@example.net"),
        ("sip:", "@example.net;user=phone"),
        ("<sip:", "@example.net;user=phone>"),
        ("SIPS:", "@h"),
        ("sip:", ""),
    ]
)
_JUNK = st.sampled_from(["", "", "", "", "x", "*", "#", "+", "٣", "３", "\u00a0", ";", "@", "%20"])


@st.composite
def near_valid(draw: st.DrawFn) -> str:
    """Dial strings built from the grammar, with occasional mistakes mixed in."""
    groups = draw(st.lists(st.text("0123456789", min_size=1, max_size=5), max_size=5))
    body = draw(_NEAR_VALID_HEAD)
    for group in groups:
        body += draw(_SEPARATOR) + group
    junk = draw(_JUNK)
    at = draw(st.integers(0, len(body)))
    body = body[:at] + junk + body[at:]
    scheme, suffix = draw(_URI)
    return scheme + body + suffix


def _outcome(function: object, *args: str) -> tuple[str, str]:
    """Return ("ok", digits) or ("error", reason) for a call, failing on any other exception."""
    assert callable(function)
    try:
        result = function(*args)
    except NumberError as error:
        assert error.reason in {"invalid_number", "incomplete_number", "carrier_selection"}
        assert error.found == args[0][:64]
        return ("error", error.reason)
    assert isinstance(result, str)
    return ("ok", result)


def _check_canonical(dial: str, area_code: str) -> None:
    """The properties every canonical() call must have."""
    outcome = _outcome(canonical, dial, area_code)
    # Deterministic, and the fast path agrees with the complete rules.
    assert _outcome(canonical, dial, area_code) == outcome
    assert _outcome(numbers._canonical_text, dial, area_code) == outcome
    kind, value = outcome
    if kind == "ok":
        assert re.fullmatch(r"[0-9]{3,15}", value), value
        assert len(value) <= MAX_E164_DIGITS
        # Idempotent through the "+" form: the canonical key is a valid E.164 number.
        assert canonical("+" + value) == value
        assert canonical("00" + value) == value


@given(st.text(), AREA_CODES)
@example("+4930123456", "")
@example("\x00", "")
@example("<>", "")
@example("sip:", "")
@example("<sip:@>", "30")
def test_canonical_arbitrary_text(dial: str, area_code: str) -> None:
    """Any text either canonicalises to 3-15 ASCII digits or raises NumberError."""
    _check_canonical(dial, area_code)


@given(near_valid(), AREA_CODES)
def test_canonical_near_valid(dial: str, area_code: str) -> None:
    """Grammar-built strings near the valid ones keep the same properties."""
    _check_canonical(dial, area_code)


@given(st.text("0123456789+", max_size=20), AREA_CODES)
def test_canonical_digit_strings(dial: str, area_code: str) -> None:
    """Digit strings (the fast path's input) keep the same properties."""
    _check_canonical(dial, area_code)


@given(st.one_of(st.text(), near_valid()))
def test_canonical_prefix_properties(text: str) -> None:
    """Prefixes are 1-15 ASCII digits or NumberError, and agree with canonical()."""
    kind, value = _outcome(canonical_prefix, text)
    if kind == "ok":
        assert re.fullmatch(r"[0-9]{1,15}", value), value
    # Whatever canonical() accepts without an area code is the same key as a prefix.
    number_kind, number = _outcome(canonical, text, "")
    if number_kind == "ok":
        assert (kind, value) == ("ok", number)
