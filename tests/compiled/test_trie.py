"""Unit tests of PrefixTrie and its pure-Python twin ReferenceTrie (run against both)."""

from __future__ import annotations

import copy
import pickle
import re
from collections.abc import Callable
from enum import IntEnum
from typing import Any

import pytest

import compiled
from compiled import MAX_DIGITS, NO_MATCH, PrefixTrie, ReferenceTrie, TrieError
from compiled._common import MAX_VALUE

Trie = Any  # PrefixTrie | ReferenceTrie: the tests only use their shared interface


@pytest.fixture(params=[PrefixTrie, ReferenceTrie], ids=["compiled", "reference"])
def build(request: pytest.FixtureRequest) -> Callable[..., Trie]:
    """The build classmethod of the implementation under test."""
    return request.param.build  # type: ignore[no-any-return]


SAMPLE = [("49", 1), ("4930", 2), ("493012", 3), ("1", 4), ("44", 5), ("4917", 6)]


def test_public_api() -> None:
    assert sorted(compiled.__all__) == [
        "MAX_DIGITS", "NO_MATCH", "PrefixTrie", "ReferenceTrie", "TrieError"
    ]  # fmt: skip
    assert (NO_MATCH, MAX_DIGITS, MAX_VALUE) == (-1, 32, 2**32 - 2)
    assert issubclass(TrieError, ValueError)


def test_empty_trie(build: Callable[..., Trie]) -> None:
    t = build([])
    assert len(t) == 0
    assert t.lookup("") == t.lookup("4930") == NO_MATCH
    assert t.match("4930") == (NO_MATCH, -1)
    assert t.lookup_many(["", "1"]) == [NO_MATCH, NO_MATCH]
    assert t.items() == []
    assert t.stats() == {"prefixes": 0, "nodes": 1, "blocks": 1, "bytes": 16, "max_depth": 0}


def test_root_value_is_the_default(build: Callable[..., Trie]) -> None:
    t = build([("", 7), ("49", 1)])
    assert t.match("") == (7, 0)
    assert t.match("33123") == (7, 0)
    assert t.match("4930") == (1, 2)
    # The default applies to any digit string, but not to invalid input.
    assert t.lookup("49x") == NO_MATCH
    assert t.lookup("9" * (MAX_DIGITS + 1)) == NO_MATCH


def test_longest_prefix_wins(build: Callable[..., Trie]) -> None:
    t = build(SAMPLE)
    assert t.match("4930123456") == (3, 6)
    assert t.match("4930129") == (3, 6)
    assert t.match("493011") == (2, 4)
    assert t.match("49301") == (2, 4)
    assert t.match("4931") == (1, 2)
    assert t.match("4917") == (6, 4)
    assert t.match("49") == (1, 2)
    assert t.match("4") == (NO_MATCH, -1)
    assert t.match("5") == (NO_MATCH, -1)
    assert t.match("") == (NO_MATCH, -1)
    assert t.lookup("12025550123") == 4


def test_input_order_does_not_matter(build: Callable[..., Trie]) -> None:
    assert build(SAMPLE).items() == build(reversed(SAMPLE)).items() == sorted(SAMPLE)


@pytest.mark.parametrize(
    "digits",
    [
        "49a",
        "a49",
        "4930 ",
        " 4930",
        "+4930",
        "49-30",
        "४९",
        "4\u00b2",
        "４９",
        "49\x00",
        "49\u20ac",
    ],
)
def test_non_digit_input_never_matches(build: Callable[..., Trie], digits: str) -> None:
    t = build([("", 0), ("4", 1), ("49", 2)])
    assert t.lookup(digits) == NO_MATCH
    assert t.match(digits) == (NO_MATCH, -1)
    assert t.lookup_many([digits, "49"]) == [NO_MATCH, 2]


def test_over_length_input_never_matches(build: Callable[..., Trie]) -> None:
    t = build([("", 0), ("4", 1), ("4" * MAX_DIGITS, 2)])
    assert t.match("4" * MAX_DIGITS) == (2, MAX_DIGITS)
    assert t.match("4" * (MAX_DIGITS + 1)) == (NO_MATCH, -1)
    assert t.lookup("4" * 1000) == NO_MATCH


def test_empty_input(build: Callable[..., Trie]) -> None:
    assert build([("4", 1)]).match("") == (NO_MATCH, -1)
    assert build([("", 3)]).match("") == (3, 0)


@pytest.mark.parametrize("bad", [49, None, b"49", ["49"]])
def test_lookup_of_a_non_str_raises(build: Callable[..., Trie], bad: object) -> None:
    t = build([("49", 1)])
    with pytest.raises(TrieError, match=r"^expected a str of digits, found "):
        t.lookup(bad)
    with pytest.raises(TrieError, match=r"^expected a str of digits, found "):
        t.match(bad)
    with pytest.raises(TrieError, match=r"^expected a str of digits, found int: 5$"):
        t.lookup_many(["49", 5])


def test_lookup_many_takes_any_iterable(build: Callable[..., Trie]) -> None:
    t = build([("49", 1)])
    assert t.lookup_many(("49", "4")) == [1, NO_MATCH]
    assert t.lookup_many(iter(["491"])) == [1]
    assert t.lookup_many([]) == []
    with pytest.raises(TrieError, match=r"^expected an iterable, found int$"):
        t.lookup_many(5)


def test_str_subclass_is_a_str(build: Callable[..., Trie]) -> None:
    class Number(str):
        pass

    t = build([(Number("49"), 1)])
    assert t.match(Number("4930")) == (1, 2)


def test_duplicate_prefix(build: Callable[..., Trie]) -> None:
    with pytest.raises(
        TrieError, match=r"^duplicate prefix '4930' at index 2 \(first given at index 0\)$"
    ):
        build([("4930", 1), ("49", 2), ("4930", 1)])
    with pytest.raises(TrieError, match=r"^duplicate prefix '' at index 1"):
        build([("", 1), ("", 2)])


def test_first_fault_in_input_order_is_reported(build: Callable[..., Trie]) -> None:
    with pytest.raises(TrieError, match=r"^duplicate prefix '1' at index 2"):
        build([("1", 1), ("2", 2), ("1", 3), ("x", 4), ("2", 5)])
    with pytest.raises(TrieError, match=r"^prefix at index 1: "):
        build([("1", 1), ("x", 2), ("1", 3)])


@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("49a", r"^prefix at index 1: expected a str of ASCII digits 0-9, found '49a'$"),
        ("+49", r"^prefix at index 1: expected a str of ASCII digits 0-9, found '\+49'$"),
        ("4\u00b2", r"^prefix at index 1: expected a str of ASCII digits 0-9, found '4²'$"),
        ("٤٩", r"^prefix at index 1: expected a str of ASCII digits 0-9, found '٤٩'$"),
        (49, r"^prefix at index 1: expected a str of ASCII digits 0-9, found 49$"),
        (None, r"^prefix at index 1: expected a str of ASCII digits 0-9, found None$"),
        ("1" * 33, r"^prefix at index 1: expected at most 32 digits, found 33 \('1{33}'\)$"),
    ],
)
def test_invalid_prefix(build: Callable[..., Trie], prefix: object, message: str) -> None:
    with pytest.raises(TrieError, match=message):
        build([("1", 1), (prefix, 2)])


@pytest.mark.parametrize("value", [-1, MAX_VALUE + 1, 2**64, -(2**70), 1.0, "1", None, True])
def test_invalid_value(build: Callable[..., Trie], value: object) -> None:
    expected = (
        rf"^value at index 0 \(prefix '49'\): expected an int in 0\.\.{MAX_VALUE}, "
        rf"found {re.escape(repr(value))}$"
    )
    with pytest.raises(TrieError, match=expected):
        build([("49", value)])


@pytest.mark.parametrize("pair", [("49",), ("49", 1, 2), "49", 49, None, {"49": 1}])
def test_malformed_pair(build: Callable[..., Trie], pair: object) -> None:
    with pytest.raises(TrieError, match=r"^pair at index 0: expected a \(prefix, value\) tuple"):
        build([pair])


def test_pairs_must_be_iterable(build: Callable[..., Trie]) -> None:
    with pytest.raises(TrieError, match=r"^expected an iterable, found int$"):
        build(5)
    with pytest.raises(
        TrieError, match=r"^pair at index 0: expected a \(prefix, value\) tuple, found '49'$"
    ):
        build({"49": 1})  # a dict iterates over its keys: a common slip


def test_accepted_input_forms(build: Callable[..., Trie]) -> None:
    class Policy(IntEnum):
        BLOCK = 3

    t = build(iter([["49", 1], ("4930", Policy.BLOCK)]))
    assert t.items() == [("49", 1), ("4930", 3)]
    assert type(t.lookup("4930")) is int
    assert build({"49": 1}.items()).items() == [("49", 1)]


def test_values_at_the_bounds(build: Callable[..., Trie]) -> None:
    t = build([("0", 0), ("1", MAX_VALUE), ("", MAX_VALUE - 1)])
    assert t.match("05") == (0, 1)
    assert t.match("15") == (MAX_VALUE, 1)
    assert t.match("25") == (MAX_VALUE - 1, 0)
    assert t.lookup_many(["0", "1", "2"]) == [0, MAX_VALUE, MAX_VALUE - 1]


def test_prefix_lengths_at_the_bounds(build: Callable[..., Trie]) -> None:
    longest = "1234567890" * 3 + "12"
    t = build([(longest, 9), (longest[:16], 8), (longest[:17], 7)])
    assert len(longest) == MAX_DIGITS
    assert t.match(longest) == (9, 32)
    assert t.match(longest[:31]) == (7, 17)
    assert t.match(longest[:16] + "0") == (8, 16)
    assert t.stats()["max_depth"] == 32


def test_items_round_trip(build: Callable[..., Trie]) -> None:
    pairs = [("", 0), *SAMPLE, ("9" * 32, 9), ("0", 10), ("00", 11)]
    t = build(pairs)
    assert t.items() == sorted(pairs)
    assert build(t.items()).items() == t.items()
    assert len(t) == len(pairs)


def test_stats(build: Callable[..., Trie]) -> None:
    t = build([("49", 1), ("4930", 2), ("44", 3)])
    # Nodes: root, 4, 49, 44, 493, 4930 -> 6 nodes in 2 blocks of 16 bytes, 3 values of 4 bytes.
    assert t.stats() == {"prefixes": 3, "nodes": 6, "blocks": 2, "bytes": 44, "max_depth": 4}


def test_immutable(build: Callable[..., Trie]) -> None:
    t = build([("49", 1)])
    with pytest.raises(AttributeError):
        t.extra = 1
    for name in ("insert", "add", "remove", "update", "__setitem__", "__delitem__", "clear"):
        assert not hasattr(t, name)


def test_not_constructible_directly() -> None:
    for cls in (PrefixTrie, ReferenceTrie):
        with pytest.raises(TypeError, match=r"use \w+Trie\.build"):
            cls()


def test_pickle_and_copy(build: Callable[..., Trie]) -> None:
    t = build(SAMPLE)
    clone = pickle.loads(pickle.dumps(t))
    assert type(clone) is type(t)
    assert clone.items() == t.items()
    assert clone.match("4930123") == (3, 6)
    assert copy.deepcopy(t).items() == copy.copy(t).items() == t.items()


def test_repr() -> None:
    assert repr(PrefixTrie.build(SAMPLE)) == "PrefixTrie(prefixes=6, nodes=11)"
    assert repr(ReferenceTrie.build(SAMPLE)) == "ReferenceTrie(prefixes=6, nodes=11)"


def test_prefix_trie_is_final() -> None:
    with pytest.raises(TypeError):
        type("Sub", (PrefixTrie,), {})


def test_large_build_matches_reference() -> None:
    # Enough nodes for many blocks and deep chains; cheap enough to run on every test pass.
    pairs = [(f"{(i * 7919) % 1_000_003:07d}"[: 3 + i % 5], i) for i in range(20_000)]
    pairs = list(dict(pairs).items())
    t, r = PrefixTrie.build(pairs), ReferenceTrie.build(pairs)
    assert t.items() == r.items()
    assert t.stats() == r.stats()
    queries = [p + "55" for p, _ in pairs[::7]] + ["0", "", "99999999"]
    assert t.lookup_many(queries) == r.lookup_many(queries)


def test_lookup_many_across_batch_chunks() -> None:
    # lookup_many walks 8 lanes at a time in chunks of 64: cross both boundaries with a mix.
    t = PrefixTrie.build([("", 0), ("4", 1), ("49", 2), ("4930", 3), ("9" * 32, 4)])
    kinds = ["4930123", "49", "", "4x", "€49", "9" * 32, "9" * 33, "5", "493", "49\u00b2"]
    queries = [kinds[(i * 7) % len(kinds)] + "1" * (i % 3) for i in range(203)]
    expected = [t.lookup(q) for q in queries]
    assert t.lookup_many(queries) == expected
    assert t.lookup_many(queries) == ReferenceTrie.build(t.items()).lookup_many(queries)
    with pytest.raises(TrieError, match=r"found NoneType: None$"):
        t.lookup_many([*queries[:130], None, "49"])


def test_twins_have_the_same_public_interface() -> None:
    def public(cls: type) -> set[str]:
        return {name for name in dir(cls) if not name.startswith("_")}

    assert public(PrefixTrie) == public(ReferenceTrie) == {
        "build", "load", "save", "lookup", "match", "lookup_many", "items", "stats"
    }  # fmt: skip
