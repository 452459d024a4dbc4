"""The C scanner (sip_edge/wire/_wire.pyx) against the reference parser (parse_message_py).

The scanner may decline any message (None: the reference then parses it); whatever it
accepts must be exactly what the reference builds. Held to it on the fixtures, on
mutations of them and on generated header lines; and it must accept the ordinary
messages of a call, or the fast path would silently never run.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sip_edge.wire import _wire
from sip_edge.wire.message import (
    MAX_MESSAGE_BYTES,
    Message,
    SipParseError,
    Via,
    parse_message,
    parse_message_py,
    parse_via_py,
)

from .conftest import FIXTURES, invite
from .test_fuzz import mutated

SEEDS = {p.stem: p.read_bytes() for p in sorted(FIXTURES.glob("*.sip"))}
# RFC 4475 section 3 (tests/sip/rfc4475): what the scanner takes of them is the reference's.
SEEDS |= {p.stem: p.read_bytes() for p in sorted((FIXTURES.parent / "rfc4475").glob("*.sip"))}


def _fields(msg: Message) -> tuple[object, ...]:
    return msg.method, msg.uri, msg.status, msg.reason, msg.headers, msg.body


def _same_as_reference(data: bytes, max_size: int = MAX_MESSAGE_BYTES) -> bool:
    """Check one input; returns whether the scanner took it."""
    got = _wire.scan(data, max_size)
    error: SipParseError | None = None
    try:
        ref = parse_message_py(data, max_size)
    except SipParseError as exc:
        error = exc
    if got is None:
        return False
    if error is not None:
        # Accepted by the scanner, refused by the reference: only its top Via may be
        # wrong (parse_message checks it after the scan), with the reference's error.
        with pytest.raises(SipParseError) as raised:
            Message(*got[:6]).top_via()
        assert str(raised.value) == str(error), data
        with pytest.raises(SipParseError):
            parse_message(data, max_size)
        return True
    assert got[:6] == _fields(ref), data
    # The index: each key's first entry, the very list in the headers (edits show through).
    first = got[6]
    assert first == ref._index(), data
    for key, entry in first.items():
        assert entry is next(h for h in got[4] if h[0] == key)
    return True


@pytest.mark.parametrize(
    "name",
    ["invite_basic", "invite_compact", "invite_multi_via", "options", "response_180"],
)
def test_ordinary_messages_take_the_fast_path(name: str) -> None:
    assert _same_as_reference(SEEDS[name])


def test_a_call_set_up_takes_the_fast_path() -> None:
    assert _same_as_reference(invite())
    assert _same_as_reference(invite(extra='P-Preferred-Identity: "X" <sip:+4930@a>\r\n'))


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_every_fixture_agrees(name: str) -> None:
    _same_as_reference(SEEDS[name])


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\r\nOPTIONS sip:a SIP/2.0\r\n\r\n",  # leading CRLF: the reference strips it
        b"INVITE sip:a SIP/2.0\nVia: x\n\n",  # LF only
        b"INVITE  sip:a SIP/2.0\r\n\r\n",
        b"SIP/2.0 200\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nFrom: a\r\nTo: b\r\n"
        b"Call-ID: c\r\nCSeq: 1 INVITE\r\n\r\n",
        b"SIP/2.0 2000 OK\r\n\r\n",
    ],
)
def test_edge_shapes(data: bytes) -> None:
    _same_as_reference(data)


def test_too_large_is_declined() -> None:
    data = invite()
    assert _wire.scan(data, len(data) - 1) is None
    with pytest.raises(SipParseError, match="Too Large"):
        parse_message(data, len(data) - 1)


def test_lists_split_as_the_reference_does() -> None:
    extra = (
        'Record-Route: <sip:a;lr>, <sip:b;lr> ,,"x y" <sip:c>\r\n'
        "v: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK2 , SIP/2.0/TCP h;branch=z9hG4bK3\r\n"
    )
    assert _same_as_reference(invite(extra=extra))


@pytest.mark.parametrize("value", ["<sip:d,e;lr>", '"x, y" <sip:c>'])
def test_a_comma_kept_inside_a_value_is_left_to_the_reference(value: str) -> None:
    data = invite(extra=f"Route: {value}, <sip:f;lr>\r\n")
    assert _wire.scan(data, MAX_MESSAGE_BYTES) is None
    assert parse_message(data).get_all("route") == [value, "<sip:f;lr>"]


_NAME = st.sampled_from(
    ["Via", "v", "VIA ", "From", "f", "To", "t", "Call-ID", "i", "CSeq", "Max-Forwards",
     "Route", "Record-Route", "Content-Length", "l", "X-Foo", "P-Asserted-Identity",
     "Bad Name", "", "Ünïcode", "Contact", "m"]
)  # fmt: skip
_VALUE = st.text(
    alphabet=st.sampled_from(list(' \t,;<>"\\:@=abcSIP/2.0UDP0123456789\x85\xa0\x1c')),
    max_size=30,
)


@st.composite
def generated(draw: st.DrawFn) -> bytes:
    lines = [draw(st.sampled_from(["INVITE sip:+4930@h SIP/2.0", "SIP/2.0 180 Ringing"]))]
    lines += [
        "Via: SIP/2.0/UDP 127.0.0.2:5061;branch=z9hG4bK-g",
        "From: <sip:a@b>;tag=1",
        "To: <sip:c@d>",
        "Call-ID: g@h",
        "CSeq: 1 INVITE",
    ]
    for _ in range(draw(st.integers(0, 6))):
        lines.insert(draw(st.integers(1, len(lines))), f"{draw(_NAME)}:{draw(_VALUE)}")
    body = draw(st.binary(max_size=20))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


_SETTINGS = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(data=generated())
def test_generated_messages_agree(data: bytes) -> None:
    _same_as_reference(data)


@_SETTINGS
@given(data=mutated())
def test_mutated_messages_agree(data: bytes) -> None:
    _same_as_reference(data)


def _head_same_as_scan(data: bytes) -> None:
    """scan_head takes exactly the requests scan takes, but those with Require or
    Proxy-Require (a 420 is the full path's), and reads the same values."""
    full = _wire.scan(data, MAX_MESSAGE_BYTES)
    head = _wire.scan_head(data, MAX_MESSAGE_BYTES)
    if full is None or full[2] != 0:  # not taken, or a response
        assert head is None, data
        return
    if any(h[0] in ("require", "proxy-require") for h in full[4]):
        assert head is None, data
        return
    assert head is not None, data
    method, uri, _, _, headers, _, first = full
    echoed = [h for h in headers if h[0] in ("via", "from", "call-id", "cseq")]
    mf = first.get("max-forwards")
    want = (method, uri, echoed, first["via"], first["to"][2], first["call-id"][2], mf and mf[2])
    got = (head.method, head.uri, head.echoed, head.top_via, head.to, head.call_id)
    assert (*got, head.max_forwards) == want, data


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_scan_head_agrees_with_scan_on_fixtures(name: str) -> None:
    _head_same_as_scan(SEEDS[name])


@_SETTINGS
@given(data=mutated())
def test_scan_head_agrees_with_scan_on_mutations(data: bytes) -> None:
    _head_same_as_scan(data)


def _relay_same_as_serialize(data: bytes) -> bool:
    """scan_relay takes only messages scan takes whose bytes are what serialize() writes of
    their parse, and its spans hold the lines and values of that parse. True: taken."""
    relay = _wire.scan_relay(data, MAX_MESSAGE_BYTES)
    if relay is None or _wire.scan_via(relay.vias[0].value) is None:
        return False  # the relay takes only a top Via that scan_via takes (as parse does)
    full = _wire.scan(data, MAX_MESSAGE_BYTES)
    assert full is not None, data
    msg = parse_message(data)
    assert msg.serialize() == data, data
    assert (relay.status, relay.method, relay.uri) == (msg.status, msg.method, msg.uri)
    h0 = relay.first_header
    assert data[h0 - 2 : h0] == b"\r\n" and data.count(b"\r\n", 0, h0) == 1
    got = (relay.to, relay.call_id, relay.cseq)
    assert got == (msg.get("to"), msg.get("call-id"), msg.get("cseq"))
    mf, from_ = relay.max_forwards, relay.from_
    for span, key in ((mf, "max-forwards"), (from_, "from")):
        assert (span.value if span is not None else None) == msg.get(key)
    for spans, key in ((relay.vias, "via"), (relay.routes, "route")):
        assert [s.value for s in spans] == msg.get_all(key)
    for span in [s for s in (mf, from_) if s is not None] + relay.vias + relay.routes:
        line = data[span.start : span.end].decode("latin-1")
        assert line.endswith(f": {span.value}\r\n") and data[span.start - 2 : span.start] == b"\r\n"
    return True


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_scan_relay_agrees_with_serialize_on_fixtures(name: str) -> None:
    _relay_same_as_serialize(SEEDS[name])


def test_scan_relay_takes_the_messages_of_a_call() -> None:
    """Else the relay fast path would silently never run."""
    data = invite()
    assert _relay_same_as_serialize(data)
    msg = parse_message(data)
    assert _relay_same_as_serialize(msg.serialize())
    response = (
        b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKcpe1\r\n"
        b"Via: SIP/2.0/UDP 127.0.0.2:5061;branch=z9hG4bK-t1;rport=5061\r\n"
        b"From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\nCSeq: 2 BYE\r\n"
        b"Record-Route: <sip:127.0.0.1:5060;lr>\r\nContent-Length: 0\r\n\r\n"
    )
    assert _relay_same_as_serialize(response)


@pytest.mark.parametrize(
    "change",
    [
        (b"Via: SIP", b"Via:SIP"),  # no space
        (b"Via: SIP", b"Via:  SIP"),  # two
        (b"rport\r\n", b"rport \r\n"),  # padded
        (b"Content-Length: 153", b"Content-Length: 0153"),
        (b"Content-Length: 153", b"l: 153"),
        (b"Content-Length: 153\r\n", b"Content-Length: 153\r\nX-After: 1\r\n"),
        (b"a=rtpmap:101 telephone-event/8000\r\n", b"a=rtpmap:101 telephone-event/8000\r\nx"),
        (
            b"Via: SIP/2.0/UDP 127.0.0.2:5061",
            b"Via: SIP/2.0/UDP 10.0.0.1, SIP/2.0/UDP 127.0.0.2:5061",
        ),
        (b"Contact:", b"Route: <sip:a;lr>, <sip:b;lr>\r\nContact:"),
        (b"Via: SIP", b"Via: ,SIP"),  # an empty value: the parse drops it
        (b"Contact:", b"Record-Route: <sip:127.0.0.1:5060;lr>,\r\nContact:"),
    ],
)
def test_scan_relay_declines_what_serialize_would_write_otherwise(
    change: tuple[bytes, bytes],
) -> None:
    data = invite().replace(*change)
    assert data != invite()
    assert not _relay_same_as_serialize(data)
    assert _wire.scan(data, MAX_MESSAGE_BYTES) is None or parse_message(data).serialize() != data


@pytest.mark.parametrize(
    "change",
    [
        (b"Max-Forwards: 70\r\n", b"Max-Forwards: 70\r\nMax-Forwards: 70\r\n"),
        (b"Call-ID", b"From: <sip:b@c>\r\nCall-ID"),
    ],
)
def test_scan_relay_declines_a_second_from_or_max_forwards(change: tuple[bytes, bytes]) -> None:
    """A relay sets them (Message.set keeps one entry): the full path's to write."""
    assert _wire.scan_relay(invite().replace(*change), MAX_MESSAGE_BYTES) is None


@_SETTINGS
@given(data=generated())
def test_scan_relay_agrees_with_serialize_on_generated(data: bytes) -> None:
    _relay_same_as_serialize(data)


@_SETTINGS
@given(data=mutated())
def test_scan_relay_agrees_with_serialize_on_mutations(data: bytes) -> None:
    _relay_same_as_serialize(data)


def _via_fields(via: Via) -> tuple[object, ...]:
    return via.transport, via.host, via.port, via.params


def _via_same_as_reference(value: str) -> bool:
    got = _wire.scan_via(value)
    try:
        ref: Via | None = parse_via_py(value)
    except SipParseError:
        ref = None
    if got is None:
        return False
    assert ref is not None, value
    assert got == _via_fields(ref), value
    return True


@pytest.mark.parametrize(
    "value",
    [
        "SIP/2.0/UDP 127.0.0.2:5061;branch=z9hG4bK-1;rport",
        "SIP/2.0/tcp host.example;BRANCH=z9hG4bK2;received=1.2.3.4;rport=5",
        "SIP/2.0/UDP h:05060;a;b=;=c;;d=e=f",
    ],
)
def test_plain_vias_take_the_fast_path(value: str) -> None:
    assert _via_same_as_reference(value)


_VIA_TEXT = st.text(
    alphabet=st.sampled_from(list("SIP/2.0UDPtcp ;:=[]\t,abc1234567890\x85\xa0é")),
    max_size=40,
)


@_SETTINGS
@given(value=st.one_of(_VIA_TEXT, _VIA_TEXT.map(lambda t: "SIP/2.0/UDP " + t)))
def test_generated_vias_agree(value: str) -> None:
    _via_same_as_reference(value)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"Max-Forwards: 70", b"Max-Forwards: 70\r\nMax-Forwards: 69"),
        (b"CSeq: 1 INVITE", b"CSeq: 1 INVITE\r\nCSeq: 2 INVITE"),
        (b"Call-ID: ", b"Call-ID: x\r\nCall-ID: "),
        (b"\r\nTo: ", b"\r\nTo: <sip:x@y>\r\nTo: "),
        (b";rport", b";;rport"),
        (b";rport", b";rport;"),
        (b"\r\nVia: ", b"\r\nVia: SIP/2.0/UDP a;b, SIP/2.0/UDP c;;d\r\nVia: "),
        (b'From: "Alice" ', b'From: "Alice '),
        (b'From: "Alice" ', b"From: Alice, A. "),
        (b"INVITE sip:+4930555000@127.0.0.1:5060", b"INVITE <sip:+4930555000@127.0.0.1>"),
        (b"@127.0.0.1:5060 SIP", b"@127.0.0.1:5060?Route=x SIP"),
    ],
)
def test_what_the_reference_refuses_since_rfc4475_is_declined(old: bytes, new: bytes) -> None:
    """RFC 4475 3.1.2 / 3.3.8 shapes: the reference answers them 400, so every pass of
    the scanner must decline them."""
    data = SEEDS["invite_basic"].replace(old, new, 1)
    assert data != SEEDS["invite_basic"]
    with pytest.raises(SipParseError):
        parse_message_py(data)
    assert _wire.scan(data, MAX_MESSAGE_BYTES) is None
    assert _wire.scan_head(data, MAX_MESSAGE_BYTES) is None
    assert _wire.scan_relay(data, MAX_MESSAGE_BYTES) is None


def test_leading_zeros_in_max_forwards_take_the_fast_path() -> None:
    data = SEEDS["invite_basic"].replace(b"Max-Forwards: 70", b"Max-Forwards: 0068")
    assert _same_as_reference(data)
