"""Differential tests: PrefixTrie (C arrays) and ReferenceTrie (dict + loop) must agree."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiled import MAX_DIGITS, PrefixTrie, ReferenceTrie, TrieError
from compiled._common import MAX_VALUE

DIGITS = "0123456789"
# Short prefixes over a small alphabet collide often, which exercises deep shared paths.
short_prefix = st.text("0149", max_size=6)
any_prefix = st.one_of(short_prefix, st.text(DIGITS, max_size=MAX_DIGITS))
values = st.integers(0, MAX_VALUE)
tables = st.dictionaries(any_prefix, values, max_size=60)
junk = st.one_of(
    st.text(max_size=12),  # any unicode, including wide kinds and '²', '٣', '٤'
    st.text("0123456789+ -x\x00\u00b2\u0663\uff11", max_size=12),
    st.text(DIGITS, min_size=MAX_DIGITS + 1, max_size=MAX_DIGITS + 8),
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def tables_and_queries(draw: st.DrawFn) -> tuple[dict[str, int], list[str]]:
    """A prefix table and queries that mostly extend its prefixes, plus junk."""
    table = draw(tables)
    keys = sorted(table)
    extension = st.text(DIGITS, max_size=14)
    queries: list[str] = []
    for _ in range(draw(st.integers(0, 40))):
        kind = draw(st.integers(0, 9))
        if keys and kind < 6:
            key = draw(st.sampled_from(keys))
            cut = draw(st.integers(0, len(key)))
            queries.append(key[:cut] if kind == 5 else key + draw(extension))
        elif kind < 8:
            queries.append(draw(st.text(DIGITS, max_size=MAX_DIGITS + 2)))
        else:
            queries.append(draw(junk))
    return table, queries


def _both(pairs: Any) -> tuple[PrefixTrie, ReferenceTrie]:
    """Build both twins from the same pairs."""
    pairs = list(pairs)
    return PrefixTrie.build(pairs), ReferenceTrie.build(pairs)


@SETTINGS
@given(tables_and_queries())
def test_twins_agree_on_every_query(case: tuple[dict[str, int], list[str]]) -> None:
    table, queries = case
    fast, slow = _both(table.items())
    for q in queries:
        assert fast.match(q) == slow.match(q), q
        assert fast.lookup(q) == slow.lookup(q), q
    assert fast.lookup_many(queries) == slow.lookup_many(queries)
    assert fast.lookup_many(tuple(queries)) == slow.lookup_many(queries)


@SETTINGS
@given(tables)
def test_twins_agree_on_structure(table: dict[str, int]) -> None:
    fast, slow = _both(table.items())
    assert fast.items() == slow.items() == sorted(table.items())
    assert len(fast) == len(slow) == len(table)
    assert fast.stats() == slow.stats()
    # Two independent encoders of one layout: byte equality pins the whole structure.
    assert fast._dumps() == slow._dumps()
    again = PrefixTrie._from_bytes(slow._dumps())
    assert again.items() == fast.items()
    assert again.stats() == fast.stats()


@SETTINGS
@given(tables, st.lists(st.text(DIGITS, max_size=16), max_size=30))
def test_match_is_the_longest_stored_prefix(table: dict[str, int], queries: list[str]) -> None:
    fast = PrefixTrie.build(table.items())
    for q in queries:
        stored = [len(k) for k in table if q.startswith(k)]
        value, length = fast.match(q)
        if stored:
            assert length == max(stored)
            assert value == table[q[:length]]
        else:
            assert (value, length) == (-1, -1)


maybe_bad_prefix = st.one_of(
    short_prefix,
    short_prefix,
    st.text(max_size=4),
    st.text(DIGITS, min_size=MAX_DIGITS, max_size=MAX_DIGITS + 2),
    st.integers(0, 99),
    st.none(),
)
maybe_bad_value = st.one_of(
    values,
    values,
    st.integers(-3, 3),
    st.integers(MAX_VALUE - 1, 2**65),
    st.booleans(),
    st.floats(),
)
maybe_bad_pair = st.one_of(
    st.tuples(maybe_bad_prefix, maybe_bad_value),
    st.tuples(maybe_bad_prefix, maybe_bad_value).map(list),
    st.tuples(short_prefix),
    st.tuples(short_prefix, values, values),
    short_prefix,
    st.none(),
)


def _outcome(cls: Any, pairs: list[Any]) -> tuple[str, Any]:
    """("ok", items) or ("error", message) of building cls from pairs."""
    try:
        return "ok", cls.build(pairs).items()
    except TrieError as e:
        return "error", str(e)


@SETTINGS
@given(st.lists(maybe_bad_pair, max_size=12))
def test_twins_reject_bad_input_alike(pairs: list[Any]) -> None:
    assert _outcome(PrefixTrie, pairs) == _outcome(ReferenceTrie, pairs)
