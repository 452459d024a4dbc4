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
