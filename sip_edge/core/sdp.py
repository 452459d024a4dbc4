"""Codec check of an SDP offer (clause 2; RFC 4566 m= and a=rtpmap lines).

An offer passes when at least one active media line (port not 0) offers a format allowed
for its media type in ``rules/codecs.toml``. Ancillary payloads (telephone-event, comfort
noise, redundancy, FEC) are allowed but do not make an offer acceptable on their own: an
offer of G.729 plus telephone-event carries no voice this network can carry.

The same m= lines give a call's share of its site's bandwidth (clause 2,
``rules/admission.toml``): :func:`offer_share`.

These two functions are the reference. :class:`Offers` answers both in one pass in C
(``sip_edge/wire/sdp.c``) and falls back to them where the C pass is not sure;
``tests/sip/test_sdp.py`` holds the two paths together.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

try:
    from sip_edge.wire._wire import OfferCheck
except ImportError:  # pragma: no cover - the extension is built by every pip install
    OfferCheck = None  # type: ignore[assignment,misc]

__all__ = [
    "ANCILLARY",
    "STATIC_PAYLOADS",
    "AllowedCodecs",
    "MediaShares",
    "Offers",
    "offer_acceptable",
    "offer_share",
]

#: RFC 3551 static payload types that carry a codec name without an a=rtpmap line.
STATIC_PAYLOADS = {
    "0": "pcmu",
    "3": "gsm",
    "4": "g723",
    "5": "dvi4",
    "6": "dvi4",
    "7": "lpc",
    "8": "pcma",
    "9": "g722",
    "10": "l16",
    "11": "l16",
    "12": "qcelp",
    "13": "cn",
    "14": "mpa",
    "15": "g728",
    "16": "dvi4",
    "17": "dvi4",
    "18": "g729",
    "25": "celb",
    "26": "jpeg",
    "28": "nv",
    "31": "h261",
    "32": "mpv",
    "33": "mp2t",
    "34": "h263",
}

#: Payloads that never carry media on their own.
ANCILLARY = frozenset(("telephone-event", "cn", "red", "ulpfec", "rtx"))

#: Largest SDP body examined (bytes); a longer one is checked on its first part only.
MAX_SDP = 8192


class AllowedCodecs:
    """Allowed format names per media type (lower-case), from ``rules/codecs.toml``."""

    __slots__ = ("by_media",)

    def __init__(
        self, audio: Iterable[str], video: Iterable[str] = (), image: Iterable[str] = ()
    ) -> None:
        """Build from the three lists of the codecs file."""
        self.by_media = {
            "audio": frozenset(a.lower() for a in audio),
            "video": frozenset(v.lower() for v in video),
            "image": frozenset(i.lower() for i in image),
        }


def _media_lines(body: bytes) -> list[tuple[str, bool, list[str], dict[str, str]]]:
    """(media, active, formats, rtpmap) per m= line."""
    out: list[tuple[str, bool, list[str], dict[str, str]]] = []
    for raw in body[:MAX_SDP].decode("latin-1").splitlines():
        line = raw.strip()
        if line.startswith("m="):
            parts = line[2:].split()
            if len(parts) < 4:
                continue
            port = parts[1].split("/", 1)[0]
            out.append((parts[0].lower(), port != "0", parts[3:], {}))
        elif line.startswith("a=rtpmap:") and out:
            pt, _, enc = line[9:].partition(" ")
            out[-1][3][pt.strip()] = enc.strip().split("/", 1)[0].lower()
    return out


def offer_acceptable(body: bytes, allowed: AllowedCodecs) -> bool:
    """Whether the SDP in ``body`` offers a format this network carries (no SDP: True)."""
    lines = _media_lines(body)
    if not lines:
        return True  # no offer in the INVITE (offer in the 2xx/ACK): nothing to check here
    for media, active, formats, rtpmap in lines:
        if not active:
            continue
        names = allowed.by_media.get(media, frozenset())
        for fmt in formats:
            name = rtpmap.get(fmt) or STATIC_PAYLOADS.get(fmt) or fmt.lower()
            if name in names and name not in ANCILLARY:
                return True
    return False


class MediaShares:
    """bit/s a media line uses per (media type, format name, lower-case), from
    ``rules/admission.toml``, and what an INVITE without SDP counts as."""

    __slots__ = ("by_media", "late_offer")

    def __init__(self, by_media: Mapping[str, Mapping[str, int]], late_offer: int) -> None:
        """``by_media``: media type -> format name -> bit/s; ``late_offer``: bit/s."""
        self.by_media = {m: {f.lower(): b for f, b in t.items()} for m, t in by_media.items()}
        self.late_offer = late_offer


def offer_share(body: bytes, shares: MediaShares) -> int:
    """bit/s of its site's bandwidth the call offered in ``body`` uses (clause 2).

    The sum over the active m= lines of the largest share among each line's formats (the
    answer may pick any of them, so the most it can cost is reserved); formats without a
    share (telephone-event, a codec refused anyway) count nothing. No SDP (a late offer,
    RFC 3261 13.2.1): ``shares.late_offer``.
    """
    lines = _media_lines(body)
    if not lines:
        return shares.late_offer
    total = 0
    for media, active, formats, rtpmap in lines:
        table = shares.by_media.get(media)
        if not active or not table:
            continue
        most = 0
        for fmt in formats:
            name = rtpmap.get(fmt) or STATIC_PAYLOADS.get(fmt) or fmt.lower()
            most = max(most, table.get(name, 0))
        total += most
    return total


class _Check(Protocol):
    def check(self, body: bytes) -> tuple[bool, int] | None: ...


class Offers:
    """Both checks of an INVITE's offer, :func:`offer_acceptable` and :func:`offer_share`,
    in one pass (an INVITE that is forwarded needs both): the C pass where it is sure,
    else the two reference functions. Built once per rules snapshot (``RulesView``)."""

    __slots__ = ("_c", "codecs", "shares")

    def __init__(self, codecs: AllowedCodecs, shares: MediaShares) -> None:
        """From the codecs and shares of one rules snapshot."""
        self.codecs = codecs
        self.shares = shares
        self._c: _Check | None = None
        if OfferCheck is not None:
            self._c = OfferCheck(codecs.by_media, shares.by_media, ANCILLARY, shares.late_offer)

    def check(self, body: bytes) -> tuple[bool, int]:
        """(whether the offer in ``body`` is acceptable, the bit/s it uses of its site)."""
        if self._c is not None:
            got = self._c.check(body)
            if got is not None:
                return got
        return offer_acceptable(body, self.codecs), offer_share(body, self.shares)
