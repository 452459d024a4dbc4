"""Deterministic generator of realistic E.164 prefix tables and dialled numbers."""

from __future__ import annotations

import random
from collections.abc import Sequence

__all__ = ["COUNTRY_CODES", "MISS_LEADS", "prefixes", "queries"]

# A realistic mix of assigned country codes (1-3 digits); 28x and a leading 0 are never
# generated, so queries starting with MISS_LEADS are guaranteed misses (no root default).
COUNTRY_CODES: tuple[str, ...] = (
    "1", "7", "20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44",
    "45", "46", "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61",
    "62", "63", "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94", "95",
    "98", "211", "212", "213", "216", "218", "220", "221", "234", "254", "255", "256", "260",
    "263", "351", "352", "353", "354", "355", "356", "357", "358", "359", "370", "371", "372",
    "373", "374", "375", "376", "377", "378", "380", "381", "382", "383", "385", "386", "387",
    "389", "420", "421", "423", "852", "853", "855", "856", "880", "881", "882", "883", "886",
    "960", "961", "962", "963", "964", "965", "966", "967", "968", "970", "971", "972", "973",
    "974", "975", "976", "977", "992", "993", "994", "995", "996", "998",
)  # fmt: skip
MISS_LEADS: tuple[str, ...] = ("0", "280", "281", "289")

# German national destination codes: big-city geographic codes, mobile, and service ranges.
_DE_CITY = ("30", "40", "69", "89", "211", "221", "228", "231", "341", "351", "511", "711", "911")
_DE_MOBILE = (
    "151", "152", "155", "157", "159", "160", "162", "163",
    "170", "171", "172", "173", "174", "175", "176", "177", "178", "179",
)  # fmt: skip
_DE_SERVICE = ("115", "116", "118", "137", "180", "700", "800", "900", "902", "906")
_MAX_LEN = 14  # longest generated prefix; E.164 numbers have at most 15 digits


def _digits(rng: random.Random, k: int) -> str:
    """Return k uniformly random decimal digits."""
    return f"{rng.randrange(10**k):0{k}d}" if k > 0 else ""


def _de_geo_ndc(rng: random.Random) -> str:
    """Return a German geographic area code of 3-5 digits (first digit 2-9)."""
    return str(rng.randint(2, 9)) + _digits(rng, rng.randint(2, 4))


def _one(rng: random.Random) -> str:
    """Draw one prefix from the weighted mix of rule kinds an operator table holds."""
    r = rng.random()
    if r < 0.30:  # German number blocks of 100..10,000 numbers in a geographic area
        ndc = rng.choice(_DE_CITY) if rng.random() < 0.5 else _de_geo_ndc(rng)
        return "49" + ndc + _digits(rng, rng.randint(3, 6))
    if r < 0.50:  # German mobile: ported blocks and single blocked numbers
        return "49" + rng.choice(_DE_MOBILE) + _digits(rng, rng.randint(4, 8))
    if r < 0.55:  # German service/premium ranges (0900, 0180x, 0137x ...)
        return "49" + rng.choice(_DE_SERVICE) + _digits(rng, rng.randint(1, 7))
    if r < 0.75:  # single blocked German numbers (fraud lists): 11-13 digits in all
        ndc = rng.choice(_DE_CITY + _DE_MOBILE) if rng.random() < 0.6 else _de_geo_ndc(rng)
        head = "49" + ndc
        return head + _digits(rng, rng.randint(11, 13) - len(head))
    # International: destination ranges for rating, down to number blocks and single numbers.
    cc = rng.choice(COUNTRY_CODES)
    return cc + _digits(rng, rng.randint(1, _MAX_LEN - len(cc) - 1))


def prefixes(n: int, seed: int = 0) -> list[str]:
    """Return n unique prefixes (canonical E.164 digits, no '+'), deterministic for a seed."""
    rng = random.Random(seed)
    # Every country code and the common German NDCs are present, as in any real table.
    base = list(COUNTRY_CODES) + ["49" + c for c in _DE_CITY + _DE_MOBILE + _DE_SERVICE]
    out: dict[str, None] = dict.fromkeys(base[:n])
    while len(out) < n:
        out[_one(rng)] = None
    result = list(out)
    rng.shuffle(result)
    return result


def queries(prefixes: Sequence[str], n: int, seed: int = 1) -> list[str]:
    """Return n dialled numbers of 10-14 digits: ~90% extend a known prefix, ~10% miss."""
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(n):
        hit = prefixes and rng.random() < 0.9
        head = rng.choice(prefixes) if hit else rng.choice(MISS_LEADS)
        total = rng.randint(max(10, len(head)), 14)
        out.append(head + _digits(rng, total - len(head)))
    return out
