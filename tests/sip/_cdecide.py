"""The harness of tests/sip/test_cdecide.py: C against decide(), and what to feed both.

``check`` and ``mismatches`` run one dial string (or many) through ``CRules.decide`` and
``policy.decide`` and compare what C answered (a fallback is never a mismatch); the
strategies generate accounts and dial strings of every shape the edge may see.
"""

from __future__ import annotations

import importlib.util
import pathlib
from collections.abc import Iterable
from dataclasses import dataclass
from types import ModuleType

import msgspec
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from policy import (
    AccountPolicy,
    Call,
    CompiledAccount,
    Decision,
    Snapshot,
    compile_account,
    decide,
)
from sip_edge.fast._cdecide import ALLOW, EMERGENCY, REFUSE, CAccount, CRules
from sip_edge.fast.tables import RowTable

ROOT = pathlib.Path(__file__).resolve().parents[2]

Answer = tuple[int, int, int, str]


def _benchmark() -> ModuleType:
    """benchmarks/decide.py (not a package): its SCENARIOS and POLICY."""
    spec = importlib.util.spec_from_file_location("_bench_decide", ROOT / "benchmarks/decide.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BENCH = _benchmark()


@dataclass(frozen=True)
class Rules:
    """One snapshot, its C rules and its row table."""

    snapshot: Snapshot
    c: CRules
    rows: RowTable

    @classmethod
    def of(cls, snapshot: Snapshot) -> Rules:
        return cls(snapshot, CRules.build(snapshot), RowTable(snapshot))

    def account(self, policy: AccountPolicy) -> tuple[CompiledAccount, CAccount]:
        compiled = compile_account(self.snapshot, policy)
        return compiled, CAccount.build(self.c, compiled)


def disagreement(r: Rules, got: Answer, expected: Decision) -> str | None:
    """Why the C answer is not decide()'s, or None if it is."""
    verdict, row, carrier, digits = got
    if expected.verdict == "emergency":
        t = r.rows.templates[row]
        ok = (
            verdict == EMERGENCY
            and carrier == -1
            and digits == expected.number
            and (t.verdict, t.reason, t.rule, t.category)
            == (expected.verdict, expected.reason, expected.rule, expected.category)
        )
    elif expected.verdict == "allow":
        # Identity is Python's (the UPN check needs the call's From): compared without it.
        ok = (
            verdict == ALLOW
            and r.c.carriers[carrier] == expected.route
            and r.rows.decision_of(row, digits) == msgspec.structs.replace(expected, identity=None)
        )
    else:
        ok = (
            verdict == REFUSE
            and carrier == -1
            and r.rows.decision_of(row, digits) == expected
            and r.rows.refusals[row] == msgspec.structs.replace(expected, number="")
        )
    return None if ok else f"C {got} != {expected}"


def check(r: Rules, accounts: tuple[CompiledAccount, CAccount], dial: str | bytes) -> bool:
    """Assert C agrees with decide() on ``dial``; True if C decided, False if it fell back.

    Bytes are what the edge has; Python gets them decoded as latin-1, as the edge does.
    """
    compiled, caccount = accounts
    if isinstance(dial, bytes):
        data, text = dial, dial.decode("latin-1")
    else:
        data, text = dial.encode("utf-8", "surrogatepass"), dial
    got = r.c.decide(caccount, data)
    if got is None:
        return False
    expected = decide(r.snapshot, Call(to=text), compiled)  # never raises where C decided
    problem = disagreement(r, got, expected)
    assert problem is None, f"{dial!r}: {problem}"
    return True


def mismatches(r: Rules, policy: AccountPolicy, dials: Iterable[str]) -> tuple[list[str], int]:
    """(mismatches, fallbacks) over ``dials``, for corpus tests that report all at once."""
    compiled, caccount = r.account(policy)
    bad: list[str] = []
    fallbacks = 0
    for dial in dials:
        got = r.c.decide(caccount, dial.encode("utf-8", "surrogatepass"))
        if got is None:
            fallbacks += 1
            continue
        problem = disagreement(r, got, decide(r.snapshot, Call(to=dial), compiled))
        if problem is not None:
            bad.append(f"{dial!r}: {problem}")
    return bad, fallbacks


# --- hypothesis strategies: accounts and dial strings -----------------------------------

CATEGORIES = [
    "mobile",
    "international",
    "premium_rate",
    "directory",
    "geographic",
    "emergency",
    "freephone",
    "service_012",
    "personal",
    "unassigned",
]
COUNTRIES = ["1", "7", "33", "41", "43", "44", "49", "86", "881", "882"]
PREFIXES = ["+4989", "0171", "+331", "0900", "11822", "+44 20", "0030", "+1", "030 12", "+4930123"]
LIFTABLE = ["premium-rate", "directory", "service-012", "user-groups"]
# "12" and "0012" pass compile_account but not numbers._area (C falls back on local numbers).
AREAS = ["", "30", "030", "089", "0221", "08821", "33203", "00301", "99999", "12", "0012"]
BAD_AREAS = {"12", "0012"}

policies = st.builds(
    lambda cats, countries, prefixes, lifted, area, suspended: AccountPolicy(
        account="gen",
        npn="+4930123456",
        area_code=area,
        blocked_categories=tuple(cats),
        blocked_countries=tuple(countries),
        blocked_prefixes=tuple(prefixes),
        lifted=tuple(lifted),
        suspended=suspended,
    ),
    st.lists(st.sampled_from(CATEGORIES), max_size=4, unique=True),
    st.lists(st.sampled_from(COUNTRIES), max_size=3, unique=True),
    st.lists(st.sampled_from(PREFIXES), max_size=3, unique=True),
    st.lists(st.sampled_from(LIFTABLE), max_size=3, unique=True),
    st.sampled_from(AREAS),
    st.booleans(),
)

NATIONAL = ["30", "40", "89", "228", "3581", "171", "151", "160", "164", "700", "800", "180"]
NATIONAL += ["137", "900", "9001", "9005", "12", "191", "31", "32", "10", "100", "11", "13", ""]
CC = ["1", "44", "4420", "33", "881", "882", "7", "86", "49", "490", "4910", "0", ""]
SERVICE = ["110", "112", "115", "116", "116000", "118", "11833", "1180", "118012", "11", "1"]


def _digits(max_size: int) -> st.SearchStrategy[str]:
    return st.text(alphabet="0123456789", max_size=max_size)


def _joined(*parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(*parts).map("".join)


#: The shapes of nearly every INVITE: never a fallback (for an account with a good area).
common = st.one_of(
    _joined(st.just("+49"), st.sampled_from(NATIONAL), _digits(10)),
    _joined(st.sampled_from(["+", "00"]), st.sampled_from(CC), _digits(12)),
    _joined(st.just("0"), st.sampled_from(NATIONAL), _digits(10)),
    _joined(st.sampled_from("23456789"), _digits(9)),
    _joined(st.sampled_from(SERVICE), _digits(2)),
    st.sampled_from(SERVICE),
)

_SEPARATED_HEAD = st.sampled_from(["+49", "+49 ", "+49 (0)", "0049 (0) ", "(0", "0", "+", "00"])
_PIECE = st.one_of(_digits(4), st.sampled_from([" ", "-", ".", "/", "(", ")", "(0)", " (0) "]))
separated = _joined(_SEPARATED_HEAD, st.lists(_PIECE, max_size=6).map("".join))
_URI_HEAD = st.sampled_from(["tel:", "TEL:", "sip:", "SIPS:", "<sip:", " tel:", "mailto:", ""])
_URI_TAIL = st.sampled_from(["", "@example.net", ";user=phone@h", "@h>", ";ext=1", "@", ">"])
_SPACES = st.sampled_from(["", "", " ", "  "])
uris = _joined(_SPACES, _URI_HEAD, st.one_of(common, separated), _URI_TAIL, _SPACES)
junk = st.one_of(
    st.text(max_size=24),
    st.text(alphabet="0123456789+ ()-./:;@<>", max_size=24),
    _joined(st.sampled_from(["", "+", "00", "0"]), st.text("0123456789", min_size=14, max_size=60)),
    _joined(common, st.sampled_from(["٣", "３", "\u00a0", "x", "*", "#", "+", "é", "\x00"])),
)
dial_strings = st.one_of(common, separated, uris, junk)

HYPOTHESIS = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
