"""sip_edge/core/sdp.py: the codec check of clause 2."""

from __future__ import annotations

import pytest

from sip_edge.core.sdp import AllowedCodecs, offer_acceptable

ALLOWED = AllowedCodecs(["PCMU", "PCMA", "G722", "telephone-event"], ["H264"], ["t38"])


def sdp(*media: str) -> bytes:
    return ("v=0\r\no=- 1 1 IN IP4 x\r\ns=-\r\nt=0 0\r\n" + "".join(media)).encode()


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        (sdp("m=audio 4000 RTP/AVP 8\r\n"), True),  # static PCMA, no rtpmap
        (sdp("m=audio 4000 RTP/AVP 9\r\n"), True),  # static G722
        (sdp("m=audio 4000 RTP/AVP 18 101\r\na=rtpmap:101 telephone-event/8000\r\n"), False),
        (sdp("m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 opus/48000/2\r\n"), False),
        (sdp("m=audio 4000 RTP/AVP 96\r\na=rtpmap:96 PCMU/8000\r\n"), True),
        (sdp("m=audio 0 RTP/AVP 0\r\n", "m=audio 4000 RTP/AVP 18\r\n"), False),  # port 0
        (
            sdp(
                "m=audio 4000 RTP/AVP 18\r\n",
                "m=video 5000 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n",
            ),
            True,
        ),
        (sdp("m=image 6000 udptl t38\r\n"), True),
        (sdp("m=image 6000 udptl t38\r\n".replace("t38", "x-fax")), False),
        (b"", True),  # no offer in the INVITE: checked elsewhere (late offer)
    ],
)
def test_offer_acceptable(body: bytes, ok: bool) -> None:
    assert offer_acceptable(body, ALLOWED) is ok


# --- the C pass (sip_edge/wire/sdp.c) against the reference ---------------------------
#
# Offers.check answers from C where sdp.c is sure; these hold that answer to
# offer_acceptable + offer_share, the reference, on fixtures and generated bodies.

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sip_edge.core.sdp import ANCILLARY, MediaShares, Offers, offer_share  # noqa: E402
from sip_edge.wire._wire import OfferCheck  # noqa: E402

#: Shares keyed as rules/admission.toml may key them: a capitalised media type (which no
#: lower-cased m= line matches), a name outside Latin-1 (which no body can spell).
SHARES = MediaShares(
    {
        "audio": {"PCMA": 100_000, "pcmu": 100_000, "G722": 120_000, "opus": 60_000},
        "video": {"H264": 900_000},
        "image": {"t38": 14_400},
        "Audio": {"gsm": 5},
        "text": {"t140": 1_000, "ŝ": 9},
    },
    100_000,
)
CODECS = AllowedCodecs(["PCMU", "PCMA", "G722", "telephone-event", "ÿx"], ["H264"], ["t38"])
CHECK = OfferCheck(CODECS.by_media, SHARES.by_media, ANCILLARY, SHARES.late_offer)


def reference(body: bytes) -> tuple[bool, int]:
    return offer_acceptable(body, CODECS), offer_share(body, SHARES)


SIPP = sdp(
    "c=IN IP4 127.0.0.2\r\nm=audio 6000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
)


@pytest.mark.parametrize(
    "body",
    [
        SIPP,
        b"",
        sdp("m=audio 4000 RTP/AVP 18 101\r\na=rtpmap:101 telephone-event/8000\r\n"),
        sdp("m=audio 0 RTP/AVP 0\r\n", "m=video 5000 RTP/AVP 97\r\na=rtpmap:97 H264/90000\r\n"),
        sdp("m=image 6000 udptl t38\r\n"),
        sdp("m=audio 4000/2 RTP/AVP 96 8\r\na=rtpmap:96 G722/8000\r\na=rtpmap:96 opus/48000\r\n"),
        sdp("m=audio 4000 RTP/AVP 96\r\na=rtpmap:96\r\na=rtpmap:96 /8000\r\n"),  # empty names
        sdp("m=audio 4000 RTP\r\na=rtpmap:0 G722/1\r\n"),  # 3 words: no line; rtpmap orphaned
        sdp("m=audio 1 RTP/AVP 8\r\nm=audio 2\r\na=rtpmap:8 opus/1\r\n"),  # joins line one
        sdp("m=AUDIO 4000 RTP/AVP 08 8\r\n"),  # media lower-cased; "08" is not static 8
        sdp("m=Audio 4000 RTP/AVP 3\r\n"),  # "Audio" in the rules matches nothing
        sdp("m=audio 4000 RTP/AVP ÿX\r\n").replace("ÿX".encode(), "ÿX".encode("latin-1")),
        b"m=audio 4000 RTP/AVP 8\x85m=video 9 RTP/AVP 34\x1ca=rtpmap:34 H264/9\x0b",
        b" \tm=audio\x1f4000\xa0RTP/AVP\t0 \r\n",
        b"m=audio 4000 RTP/AVP 8\r\n" + b"x" * 9000 + b"\r\nm=video 1 RTP/AVP 34\r\n",
    ],
)
def test_the_c_pass_answers_as_the_reference(body: bytes) -> None:
    assert CHECK.check(body) == reference(body)


def test_more_formats_than_the_c_pass_holds_fall_back_to_the_reference() -> None:
    many = sdp("m=audio 4000 RTP/AVP " + " ".join(["96"] * 65) + " 8\r\n")
    maps = sdp("m=audio 4000 RTP/AVP 8\r\n" + "a=rtpmap:9 x/1\r\n" * 65)
    offers = Offers(CODECS, SHARES)
    for body in (many, maps):
        assert CHECK.check(body) is None
        assert offers.check(body) == reference(body)
    assert CHECK.check(sdp("m=audio 4000 RTP/AVP " + " ".join(["8"] * 64) + "\r\n")) is not None


def test_lower_case_as_python_over_latin_1() -> None:
    """sdp.c's lower() is str.lower() on every Latin-1 code point: a name matches the
    table entry that is its own lower case, and no other (a neighbour's, its upper case)."""
    for c in range(0x21, 0x100):
        if chr(c).isspace() or c == 0x2F:
            continue
        body = f"m=audio 1 RTP/AVP 96\r\na=rtpmap:96 {chr(c)}/1\r\n".encode("latin-1")
        own = OfferCheck({"audio": frozenset([chr(c).lower()])}, {}, frozenset(), 0)
        assert own.check(body) == (True, 0), hex(c)
        others = {chr(o).lower() for o in range(0x21, 0x100)} - {chr(c).lower()}
        other = OfferCheck({"audio": frozenset(others)}, {}, frozenset(), 0)
        assert other.check(body) == (False, 0), hex(c)


_SEPARATORS = ["\r\n", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85"]
_PADDING = ["", " ", "\t", "\x1f", "\xa0", "  "]
_WORD = st.sampled_from(
    ["audio", "AUDIO", "Audio", "video", "image", "text", "0", "00", "0/2", "4000", "4000/2",
     "RTP/AVP", "udptl", "8", "08", "0", "9", "18", "3", "34", "96", "97", "101", "13", "t38",
     "T38", "PCMA", "h264", "t140", "ÿx", "ÿX", "x"]
)  # fmt: skip
_ENC = st.sampled_from(
    ["PCMA/8000", "pcmu/8000", "G722/16000", "opus/48000/2", "telephone-event/8000",
     "H264/90000", "/8000", "", "CN/8000", "ÿX/1", "gsm", "t140/1000", "PC MA/1"]
)  # fmt: skip


@st.composite
def _line(draw: st.DrawFn) -> str:
    pad = draw(st.sampled_from(_PADDING))
    kind = draw(st.integers(0, 4))
    if kind <= 1:
        words = draw(st.lists(_WORD, min_size=1, max_size=7))
        gap = draw(st.sampled_from([" ", " ", "\t", "  ", "\x1f", "\xa0"]))
        text = "m=" + gap.join(words)
    elif kind <= 3:
        pt = draw(st.sampled_from(["8", "96", "97", "101", "0", " 96", "96\t", "x"]))
        gap = draw(st.sampled_from([" ", "  ", " \t", "\t"]))
        text = f"a=rtpmap:{pt}{gap}{draw(_ENC)}" if draw(st.booleans()) else f"a=rtpmap:{pt}"
    else:
        text = draw(st.sampled_from(["v=0", "c=IN IP4 x", "a=sendrecv", "m=", "a=rtpmap:", ""]))
    return pad + text + draw(st.sampled_from(_PADDING))


@st.composite
def _body(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(_line(), max_size=12))
    text = "".join(line + draw(st.sampled_from(_SEPARATORS)) for line in lines)
    return text.encode("latin-1")


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_body())
def test_generated_offers_answer_as_the_reference(body: bytes) -> None:
    got = CHECK.check(body)
    assert got is not None  # nothing here reaches the C pass's limits
    assert got == reference(body)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.binary(max_size=40))
def test_any_bytes_answer_as_the_reference(noise: bytes, tail: bytes) -> None:
    body = noise + b"\r\nm=audio 1 RTP/AVP 8 96\r\na=rtpmap:96 " + tail
    for each in (noise, body):
        got = CHECK.check(each)
        assert got is None or got == reference(each)
