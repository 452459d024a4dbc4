"""The per-call decision in C (sip_edge/fast/decide.c) equals policy.decide(): 0 mismatches.

cp_decide may fall back (None here) on anything it is not sure of; whenever it answers,
the answer must be decide()'s: verdict, reason, rule, SIP answer, carrier and digits. The
dial strings are every scenario of benchmarks/decide.py, every short string over a dial
alphabet, every service-code shape, and hypothesis-generated accounts and numbers (the
edge's shapes, separators, URIs, junk, bytes, long, Unicode). The shapes the edge sees on
nearly every call must not fall back; ``test_fallback_share`` prints the share (``-s``).
The harness and the strategies are in tests/sip/_cdecide.py.
"""

from __future__ import annotations

import dataclasses
import gc
import itertools
import pathlib
import random
from collections import Counter

import msgspec
import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from policy import AccountPolicy, Call, Decision, Snapshot, compile_dir, decide, sip_answer
from sip_edge.fast._cdecide import (
    ALLOW,
    CP_DECIDE,
    EMERGENCY,
    ERRORS,
    FALLBACK,
    REFUSE,
    CAccount,
    CRules,
    uses_popcnt,
)
from sip_edge.fast.tables import ERROR_REASONS
from tests.sip._cdecide import (
    BAD_AREAS,
    BENCH,
    CC,
    HYPOTHESIS,
    LIFTABLE,
    NATIONAL,
    SERVICE,
    Rules,
    check,
    common,
    dial_strings,
    mismatches,
    policies,
)


@pytest.fixture(scope="module")
def shipped(snapshot: Snapshot) -> Rules:
    return Rules.of(snapshot)


# --- the benchmark's scenarios and exhaustive short strings -------------------------------


def test_every_benchmark_scenario_is_decided_in_c(shipped: Rules) -> None:
    accounts = shipped.account(BENCH.POLICY)
    for name, call in BENCH.SCENARIOS:
        assert check(shipped, accounts, call.to), f"{name}: fell back"


def test_rows_and_constants(shipped: Rules) -> None:
    assert (FALLBACK, ALLOW, REFUSE, EMERGENCY) == (0, 1, 2, 3)
    assert len(ERROR_REASONS) == ERRORS
    assert shipped.c.table_rows == len(shipped.snapshot.table) == shipped.rows.table_rows
    assert shipped.c.rows == len(shipped.rows) == shipped.c.table_rows + ERRORS
    assert shipped.c.carriers == tuple(shipped.snapshot.carriers)
    assert type(CP_DECIDE).__name__ == "PyCapsule"
    assert isinstance(uses_popcnt(), bool)
    _, caccount = shipped.account(BENCH.POLICY)
    # Each number error has its own row after the table's, in ERROR_REASONS order.
    for dial, reason in (("x", "invalid_number"), ("11", "incomplete_number"), ("0101", "")):
        got = shipped.c.decide(caccount, dial.encode())
        assert got is not None
        row = got[1]
        assert row - shipped.c.table_rows == ERROR_REASONS.index(reason or "carrier_selection")


ALPHABET = "0123456789+ ()-./:;@<>sStTiI#*x"


def test_every_short_string_over_a_dial_alphabet(shipped: Rules) -> None:
    """All strings of up to 3 characters of ALPHABET (~31k), with and without area code."""
    dials = ["".join(p) for n in range(4) for p in itertools.product(ALPHABET, repeat=n)]
    for area in ("30", ""):
        policy = msgspec.structs.replace(BENCH.POLICY, area_code=area)
        bad, fallbacks = mismatches(shipped, policy, dials)
        assert bad == []
        assert fallbacks == 0  # all ASCII, a good area code: C decides every one


def test_every_four_character_string_over_a_uri_alphabet(shipped: Rules) -> None:
    """Strings of 4 characters (~21k) of what wraps a number: spaces, <>, a scheme's colon."""
    dials = ["".join(p) for p in itertools.product("01+ (<>):@;t", repeat=4)]
    bad, fallbacks = mismatches(shipped, BENCH.POLICY, dials)
    assert bad == []
    assert fallbacks == 0


def test_every_service_code_shape_and_short_digit_string(shipped: Rules) -> None:
    """ "1" + up to 5 digits (all of 110/112/115/116xyz/118xy/1180xy and their prefixes),
    "0", "00" and "+" + up to 4 digits, and local numbers of up to 5 digits."""
    dials = [
        head + "".join(p)
        for head, most in (("1", 5), ("0", 4), ("00", 4), ("+", 4), ("2", 4), ("9", 4))
        for n in range(most + 1)
        for p in itertools.product("0123456789", repeat=n)
    ]
    bad, fallbacks = mismatches(shipped, BENCH.POLICY, dials)
    assert bad == []
    assert fallbacks == 0


def test_every_rule_prefix_and_its_neighbours(shipped: Rules) -> None:
    """Each key prefix of the trie, one digit more and less, padded to lengths 5-16, in the
    +, 00 and national 0 forms: every class's short/ok/long rows."""
    dials: set[str] = set()
    for key, _ in shipped.snapshot.trie.items():
        for digits in (key, key[:-1], key + "0", key + "9"):
            for n in range(5, 17):
                padded = (digits + "1234567890123456")[: max(n, len(digits))]
                dials.update(("+" + padded, "00" + padded))
                if padded.startswith("49"):
                    dials.add("0" + padded[2:])
    policies = [
        BENCH.POLICY,
        AccountPolicy(account="s", area_code="030", suspended=True, lifted=("premium-rate",)),
        AccountPolicy(
            account="b", blocked_categories=("mobile", "geographic"), blocked_countries=("44",)
        ),
    ]
    for policy in policies:
        bad, fallbacks = mismatches(shipped, policy, sorted(dials))
        assert bad == []
        assert fallbacks == 0


@HYPOTHESIS
@given(policy=policies, dial=common)
def test_common_shapes_are_decided_in_c(shipped: Rules, policy: AccountPolicy, dial: str) -> None:
    decided = check(shipped, shipped.account(policy), dial)
    local = dial[0] in "23456789"
    assert decided or (local and policy.area_code in BAD_AREAS), f"{dial!r} fell back"


@HYPOTHESIS
@given(policy=policies, dial=dial_strings)
def test_any_dial_string(shipped: Rules, policy: AccountPolicy, dial: str) -> None:
    decided = check(shipped, shipped.account(policy), dial)
    event("decided in C" if decided else "fell back")  # --hypothesis-show-statistics
    # Outside ASCII Python decides; inside it, only a bad area code makes C unsure.
    if dial.isascii() and policy.area_code not in BAD_AREAS:
        assert decided, f"{dial!r} fell back"


@HYPOTHESIS
@given(policy=policies, data=st.binary(max_size=24) | common.map(str.encode))
def test_any_bytes(shipped: Rules, policy: AccountPolicy, data: bytes) -> None:
    event("decided in C" if check(shipped, shipped.account(policy), data) else "fell back")


def test_fallback_share(shipped: Rules) -> None:
    """A fixed mix of the shapes above: prints the share of each that falls back."""
    rng = random.Random(7)
    shapes: dict[str, list[str]] = {
        "+49...": [f"+49{rng.choice(NATIONAL)}{rng.randrange(10**7)}" for _ in range(2000)],
        "+CC... / 00CC...": [
            f"{rng.choice(['+', '00'])}{rng.choice(CC[:8])}{rng.randrange(10**8)}"
            for _ in range(2000)
        ],
        "0... national": [f"0{rng.choice(NATIONAL)}{rng.randrange(10**7)}" for _ in range(2000)],
        "local": [f"{rng.randint(2, 9)}{rng.randrange(10**6)}" for _ in range(2000)],
        "service codes": [rng.choice(SERVICE) + str(rng.randrange(100))[:1] for _ in range(2000)],
        "separators, URIs": [
            rng.choice(["tel:+49-30-", "sip:+49 30 ", "+49 (0)30 ", "030/", "<sip:0"])
            + f"{rng.randrange(10**6)}"
            + rng.choice(["", "@h", ";user=phone@h"])
            for _ in range(2000)
        ],
        "non-ASCII junk": [f"+49{rng.randrange(10**6)}{rng.choice('٣３é')}" for _ in range(500)],
    }
    counts: Counter[str] = Counter()
    print("\nC decision fallback share (benchmark account, area code 30):")
    for shape, dials in shapes.items():
        bad, fallbacks = mismatches(shipped, BENCH.POLICY, dials)
        assert bad == []
        counts["dials"] += len(dials)
        counts["fallbacks"] += fallbacks
        print(f"  {shape:<20} {fallbacks:>5} of {len(dials):>5} fall back")
        if shape != "non-ASCII junk":
            assert fallbacks == 0, shape
    share = counts["fallbacks"] / counts["dials"]
    print(f"  all: {counts['fallbacks']} of {counts['dials']} ({share:.1%}), mismatches: 0")


# --- a table whose every row is distinct: the row arithmetic itself -----------------------


@pytest.fixture(scope="module")
def distinct(snapshot: Snapshot) -> Rules:
    """The shipped snapshot with a table of all-different rows (the shipped table repeats
    rows: suspension, for one, makes the lifted bit moot), allow/block/reject in turn."""
    sip = sip_answer("operator_block")
    table = tuple(
        Decision("allow", f"r{i}", None, None, category=f"c{i}")
        if i % 3 == 0
        else Decision("block" if i % 3 == 1 else "reject", f"r{i}", None, sip, category=f"c{i}")
        for i in range(len(snapshot.table))
    )
    return Rules.of(dataclasses.replace(snapshot, table=table))


@HYPOTHESIS
@given(policy=policies, dial=common)
def test_each_row_is_the_row_decide_reads(
    distinct: Rules, policy: AccountPolicy, dial: str
) -> None:
    decided = check(distinct, distinct.account(policy), dial)
    assert decided or (dial[0] in "23456789" and policy.area_code in BAD_AREAS)


def test_each_row_on_every_rule_prefix(distinct: Rules) -> None:
    """Every class's short, ok and long rows, for each combination of the account's bits."""
    dials = sorted(
        {
            f"+{(key + '1234567890123456')[:n]}"
            for key, _ in distinct.snapshot.trie.items()
            for n in (4, 7, 10, 13, 16)
        }
    )
    for suspended, cats, prefixes, lifted in itertools.product(
        (False, True), ((), ("mobile", "premium_rate")), ((), ("+4930",)), ((), LIFTABLE)
    ):
        policy = AccountPolicy(
            account="d",
            suspended=suspended,
            blocked_categories=cats,
            blocked_prefixes=prefixes,
            lifted=tuple(lifted),
        )
        bad, fallbacks = mismatches(distinct, policy, dials)
        assert bad == []
        assert fallbacks == 0


# --- the other accounts' cases, reloads, misuse -------------------------------------------


def test_bad_area_code_falls_back_where_decide_raises(shipped: Rules) -> None:
    compiled, caccount = shipped.account(AccountPolicy(account="a", area_code="0012"))
    with pytest.raises(ValueError, match="not a German area code"):
        decide(shipped.snapshot, Call(to="223456"), compiled)
    assert shipped.c.decide(caccount, b"223456") is None
    assert check(shipped, (compiled, caccount), "+4930123456")  # other shapes: still C


def test_emergency_rows_are_left_to_python(shipped: Rules) -> None:
    compiled, caccount = shipped.account(BENCH.POLICY)
    for dial in ("110", "112", "+49112", "0112"):
        assert check(shipped, (compiled, caccount), dial)
    got = shipped.c.decide(caccount, b"112")
    assert got is not None and got[0] == EMERGENCY
    with pytest.raises(ValueError, match="emergency row"):
        shipped.rows.decision_of(got[1], got[3])
    with pytest.raises(IndexError):
        shipped.rows.decision_of(shipped.c.rows, "")


EXTRA_BLOCK = """
[[block]]
id = "fraud-uk"
reason = "operator_block"
prefixes = ["+44 20 7946"]
"""


def test_a_reload_builds_new_tables_and_the_old_stay_valid(
    shipped: Rules, rules_copy: pathlib.Path
) -> None:
    blocks = rules_copy / "blocks.toml"
    blocks.write_text(blocks.read_text() + EXTRA_BLOCK)
    old_accounts = shipped.account(BENCH.POLICY)
    new = Rules.of(compile_dir(str(rules_copy)))
    new_accounts = new.account(BENCH.POLICY)
    assert new.c.revision != shipped.c.revision
    dial = "+442079461234"
    old_got, new_got = (
        shipped.c.decide(old_accounts[1], dial.encode()),
        new.c.decide(new_accounts[1], dial.encode()),
    )
    assert old_got is not None and old_got[0] == ALLOW
    assert new_got is not None and new_got[0] == REFUSE
    # An account of the old rules is refused by the new ones (and the other way round).
    with pytest.raises(ValueError, match="compiled for rules"):
        CAccount.build(new.c, old_accounts[0])
    assert new.c.decide(old_accounts[1], dial.encode()) is None
    assert shipped.c.decide(new_accounts[1], dial.encode()) is None
    # The old C data outlives its builders: only the account keeps its rules alive.
    lone = CAccount.build(CRules.build(shipped.snapshot), old_accounts[0])
    del new, new_accounts
    gc.collect()
    assert lone.rules.decide(lone, dial.encode()) == old_got
    for _, call in BENCH.SCENARIOS:
        assert check(shipped, old_accounts, call.to)


def test_built_only_through_build(shipped: Rules) -> None:
    with pytest.raises(TypeError):
        CRules()
    with pytest.raises(TypeError):
        CAccount()
    _, caccount = shipped.account(BENCH.POLICY)
    assert shipped.c.bench(caccount, b"+4930987654", 1000) > 0
    with pytest.raises(ValueError):
        shipped.c.bench(caccount, b"+4930987654", 0)
