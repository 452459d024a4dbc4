"""sip_edge/wire/message.py: parsing and serializing, fed whole, truncated and byte by byte."""

from __future__ import annotations

import contextlib

import pytest

from sip_edge.wire.message import (
    Message,
    SipParseError,
    StreamFramer,
    StreamFramingError,
    parse_message,
    parse_message_py,
    parse_name_addr,
    parse_via,
    uri_hostport,
    uri_user,
)

from .conftest import fixture


def test_basic_invite() -> None:
    msg = parse_message(fixture("invite_basic"))
    assert msg.is_request
    assert (msg.method, msg.uri) == ("INVITE", "sip:+4930555000@127.0.0.1:5060")
    assert msg.get("call-id") == "basic-1@127.0.0.2"
    assert msg.cseq() == (1, "INVITE")
    assert msg.body.startswith(b"v=0\r\n")
    assert len(msg.body) == int(msg.get("content-length") or -1)


def test_compact_forms_expand_to_full_names() -> None:
    msg = parse_message(fixture("invite_compact"))
    assert msg.get("via") == "SIP/2.0/UDP 127.0.0.2:5061;branch=z9hG4bK-compact-1"
    assert msg.get("from") == "<sip:+493012345001@127.0.0.2>;tag=c1"
    assert msg.get("to") == "<sip:+4930555000@127.0.0.1>"
    assert msg.get("call-id") == "compact-1@127.0.0.2"
    assert msg.get("contact") == "<sip:alice@127.0.0.2:5061>"
    assert msg.get("content-type") == "application/sdp"
    assert msg.body.endswith(b"telephone-event/8000\r\n")


def test_folded_lines_are_joined() -> None:
    msg = parse_message(fixture("invite_folded"))
    assert msg.get("via") == "SIP/2.0/UDP 127.0.0.2:5061 ;branch=z9hG4bK-folded-1"
    assert parse_via(msg.get("via") or "").branch == "z9hG4bK-folded-1"
    assert msg.get("from") == '"Alice" <sip:+493012345001@127.0.0.2>;tag=f1'
    assert msg.cseq() == (1, "INVITE")


def test_multiple_via_values_and_case_insensitive_names() -> None:
    msg = parse_message(fixture("invite_multi_via"))
    vias = [parse_via(v) for v in msg.get_all("via")]
    assert [v.branch for v in vias] == ["z9hG4bK-mv-1", "z9hG4bK-mv-0", "z9hG4bK-mv-00"]
    assert [(v.transport, v.host, v.port) for v in vias] == [
        ("UDP", "127.0.0.2", 5061),
        ("UDP", "10.0.0.9", 5060),
        ("TCP", "10.0.0.8", None),
    ]
    assert vias[2].params["received"] == "10.0.0.7"
    assert msg.get("call-id") == "multi-via-1@127.0.0.2"
    assert msg.get("max-forwards") == "70"


def test_no_content_length_on_udp_takes_the_rest_of_the_datagram() -> None:
    msg = parse_message(fixture("invite_no_content_length"))
    assert msg.body.startswith(b"v=0") and msg.body.endswith(b"8000\r\n")


def test_bytes_after_content_length_are_discarded() -> None:
    data = fixture("invite_basic") + b"trailing junk"
    assert parse_message(data).body == parse_message(fixture("invite_basic")).body


def test_bare_lf_line_ends_are_accepted() -> None:
    msg = parse_message(fixture("invite_lf_only"))
    assert msg.cseq() == (1, "INVITE") and msg.body.startswith(b"v=0\n")


@pytest.mark.parametrize(
    ("name", "status", "phrase", "partial"),
    [
        ("invite_truncated", 400, "Truncated Body", True),
        ("invite_bad_cseq", 400, "Bad CSeq", True),
        ("invite_cseq_mismatch", 400, "CSeq Method Mismatch", True),
        ("invite_missing_call_id", 400, "Missing Call-ID", True),
        ("invite_bad_content_length", 400, "Bad Content-Length", True),
        ("invite_bad_header_line", 400, "Bad Header Line", True),
        ("invite_unsupported_scheme", 416, "Unsupported URI Scheme", True),
        ("garbage", 400, "Bad Request Line", False),
        ("bad_request_line", 505, "Version Not Supported", True),
    ],
)
def test_malformed_inputs_raise_one_error_family(
    name: str, status: int, phrase: str, partial: bool
) -> None:
    with pytest.raises(SipParseError, match=phrase) as info:
        parse_message(fixture(name))
    assert (info.value.status, info.value.phrase) == (status, phrase)
    assert (info.value.partial is not None) == partial


def test_too_large_is_513() -> None:
    with pytest.raises(SipParseError) as info:
        parse_message(fixture("invite_basic"), max_size=100)
    assert info.value.status == 513


@pytest.mark.parametrize("name", ["invite_basic", "invite_compact", "invite_folded", "options"])
def test_every_truncation_parses_or_raises_sip_parse_error(name: str) -> None:
    data = fixture(name)
    for cut in range(len(data)):
        with contextlib.suppress(SipParseError):
            parse_message(data[:cut])


def test_serialize_round_trips() -> None:
    for name in ("invite_basic", "invite_compact", "invite_folded", "invite_multi_via"):
        msg = parse_message(fixture(name))
        again = parse_message(msg.serialize())
        assert [h[0::2] for h in again.headers if h[0] != "content-length"] == [
            h[0::2] for h in msg.headers if h[0] != "content-length"
        ]
        assert again.body == msg.body


def test_serialize_writes_a_matching_content_length() -> None:
    msg = parse_message(fixture("invite_basic"))
    msg.body = b"x" * 7
    assert b"\r\nContent-Length: 7\r\n\r\nxxxxxxx" in msg.serialize()


def test_stream_framer_byte_by_byte() -> None:
    one, two = fixture("invite_basic"), fixture("options")
    framer = StreamFramer()
    got: list[bytes] = []
    for b in b"\r\n" + one + two:
        got += framer.feed(bytes([b]))
    assert got == [one, two]


def test_stream_framer_needs_content_length() -> None:
    with pytest.raises(SipParseError, match="Missing Content-Length"):
        StreamFramer().feed(fixture("invite_no_content_length"))


def test_stream_framer_bounds_its_buffer() -> None:
    framer = StreamFramer(max_size=2048)
    with pytest.raises(SipParseError) as info:
        framer.feed(b"INVITE sip:x@y SIP/2.0\r\nSubject: " + b"a" * 4096)
    assert info.value.status == 513


def test_name_addr_and_uris() -> None:
    na = parse_name_addr('"Bob, Jr." <sip:+4930111@host:5060;user=phone>;tag=xy;foo')
    assert (na.display, na.uri, na.tag) == ('"Bob, Jr."', "sip:+4930111@host:5060;user=phone", "xy")
    spec = parse_name_addr("sip:alice@example.com;tag=88")
    assert (spec.uri, spec.tag) == ("sip:alice@example.com", "88")
    assert uri_user("sip:+4930111;phone-context=x@host") == "+4930111"
    assert uri_user("tel:+4930111;ext=2") == "+4930111"
    assert uri_user("sip:host.example") == ""
    assert uri_hostport("sip:u@[2001:db8::1]:5070;lr") == ("[2001:db8::1]", 5070)
    assert uri_hostport("sip:127.0.0.1;lr") == ("127.0.0.1", None)


def test_set_push_remove_keep_order() -> None:
    msg = Message(method="INVITE", uri="sip:x@y")
    msg.add("via", "a")
    msg.add("route", "r1")
    msg.add("via", "b")
    msg.push("via", "top")
    assert msg.get_all("via") == ["top", "a", "b"]
    assert msg.remove_first("via") == "top"
    msg.set("via", "only")
    assert msg.get_all("via") == ["only"]
    assert msg.remove("route") == 1


@pytest.mark.parametrize("port", ["²061", "٥٠٦٠", "5060x", ""])
def test_via_port_must_be_ascii_digits(port: str) -> None:
    # Found by the fuzz test: "²061".isdigit() is True, and int() refused it mid-answer.
    from sip_edge.wire.message import SipParseError, parse_via

    with pytest.raises(SipParseError, match="Bad Port"):
        parse_via(f"SIP/2.0/UDP 127.0.0.2:{port};branch=z9hG4bK1")


def test_framer_refuses_a_content_length_too_long_to_convert() -> None:
    # int() of more than 4300 digits raises ValueError: it must be a SipParseError.
    head = b"OPTIONS sip:a SIP/2.0\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n"
    with pytest.raises(SipParseError, match="Too Large"):
        StreamFramer().feed(head)


def test_max_forwards_with_leading_zeros_is_accepted() -> None:
    """RFC 4475 3.1.1.1: Max-Forwards is 1*DIGIT; "0068" is 68."""
    data = fixture("invite_basic").replace(b"Max-Forwards: 70", b"Max-Forwards: 0068")
    for parse in (parse_message, parse_message_py):
        assert parse(data).get("max-forwards") == "0068"


_BASIC = fixture("invite_basic")


@pytest.mark.parametrize(
    ("old", "new", "status", "phrase"),
    [
        (b"INVITE sip:", b"INVITE  sip:", 400, "Bad Request Line"),
        (b" SIP/2.0\r\nVia", b" SIP/2.0 \r\nVia", 400, "Bad Request Line"),
        (b"+4930555000@127.0.0.1:5060", b"+4930555000@127.0.0.1; lr", 400, "Bad Request Line"),
        (b" SIP/2.0\r\nVia", b" SIP/7.0\r\nVia", 505, "Version Not Supported"),
        (b"INVITE sip:+4930555000@127.0.0.1:5060", b"INVITE <sip:+4930555000@127.0.0.1>", 400,
         "Bad Request-URI"),
        (b"@127.0.0.1:5060 SIP", b"@127.0.0.1:5060?Route=%3Csip:x%3E SIP", 400, "Bad Request-URI"),
        (b"Max-Forwards: 70", b"Max-Forwards: 70\r\nMax-Forwards: 69", 400,
         "Duplicate Max-Forwards"),
        (b"CSeq: 1 INVITE", b"CSeq: 1 INVITE\r\nCSeq: 2 INVITE", 400, "Duplicate CSeq"),
        (b"Call-ID: ", b"Call-ID: x\r\nCall-ID: ", 400, "Duplicate Call-ID"),
        (b"\r\nTo: ", b"\r\nTo: <sip:x@y>\r\nTo: ", 400, "Duplicate To"),
        (b";rport", b";;,;,,", 400, "Bad Via"),
        (b";rport", b";rport;", 400, "Bad Via"),
        (b'From: "Alice" ', b'From: "Alice ', 400, "Bad From"),
        (b'From: "Alice" ', b"From: Alice, A. ", 400, "Bad From"),
        (b"Call-ID: basic-1@127.0.0.2\r\n", b"", 400, "Missing Call-ID"),
    ],
)  # fmt: skip
def test_rfc4475_syntax_errors_are_answerable(
    old: bytes, new: bytes, status: int, phrase: str
) -> None:
    """Each error keeps the partial message, so the core can answer it (RFC 4475 3.1.2)."""
    data = _BASIC.replace(old, new, 1)
    assert data != _BASIC
    with pytest.raises(SipParseError) as info:
        parse_message(data)
    assert (info.value.status, info.value.phrase) == (status, phrase)
    assert info.value.partial is not None


@pytest.mark.parametrize(
    "value",
    ['"J Rosenberg \\\\\\"" <sip:j@example.com> ; tag = 9', "caller<sip:c@example.com>;tag=1",
     "token1~` token2'+_ <sip:m@example.com>", "sip:u@example.com;tag=x", '"a, b" <sip:a@b>',
     '"W" < sip:t@example.org >'],
)  # fmt: skip
def test_valid_name_addr_forms_are_taken(value: str) -> None:
    data = _BASIC.replace(
        b'From: "Alice" <sip:+493012345001@127.0.0.2>;tag=a1', f"From: {value}".encode()
    )
    assert parse_message(data).get("from") == value.replace("  ", " ")


def test_stream_framing_error_keeps_what_came_before() -> None:
    register = fixture("options").replace(b"OPTIONS", b"REGISTER")
    bad = fixture("options").replace(b"Content-Length: 0", b"Content-Length: -1")
    with pytest.raises(StreamFramingError) as info:
        StreamFramer().feed(register + bad)
    assert info.value.messages == [register]
    assert info.value.head == bad
    conflicting = fixture("options").replace(b"Content-Length: 0", b"l: 1\r\nContent-Length: 0")
    with pytest.raises(StreamFramingError) as info:
        StreamFramer().feed(conflicting)
    assert info.value.messages == [] and info.value.head is not None
    with pytest.raises(StreamFramingError) as info:
        StreamFramer().feed(fixture("invite_no_content_length"))
    assert info.value.head is None
