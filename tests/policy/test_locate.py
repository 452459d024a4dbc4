"""Tests for policy.rules._locate: msgspec error path -> 1-based line of TOML text."""

from __future__ import annotations

import tomllib

import pytest

from policy.rules._locate import line_of, parse_path

# Line numbers are in the comments on the right of the expectations below.
DOC = """\
# A comment with [[block]], [account] and "quotes" and 'single' ones: no header.
schema = 1
default = "x"   # trailing comment with [brackets] and "quotes" = 2
list = ["a", 'b', "c, d"]
ints = [
  1,
  2,  # two
  "three",
]
nested = [
  ["a", "b"],
  ["c"],
  { id = "d", x = ["e", "f"] },
  "g",
]

[[block]]
id = "first"
prefixes = ["1", "2"]

[[block]]
id = "second"
# prefixes = ["commented", "out"]
# [[block]] commented header
prefixes = [
  "10",  # a comment with "quotes", 'apostrophes' and [brackets]
  # a whole-line comment "x", "y", [z]
  "11", 'it"s',
  "13",
  "with # hash and ] bracket",
]
reason = "r"

[account]
npn = "+4930"

[account.alice]
numbers = ["+4930", "+4940"]

[table]
key = 1
"""


def test_doc_is_valid_toml() -> None:
    data = tomllib.loads(DOC)
    assert data["block"][1]["prefixes"][3] == "13"
    assert data["account"]["alice"]["numbers"] == ["+4930", "+4940"]


@pytest.mark.parametrize(
    ("path", "parts"),
    [
        ("$", []),
        ("$.schema", ["schema"]),
        ("$.block[3].prefixes[1]", ["block", 3, "prefixes", 1]),
        ("$.area[0].routing_110", ["area", 0, "routing_110"]),
        ("$.min_digits", ["min_digits"]),
        ("$.fallback-area", ["fallback-area"]),
        ("$[2]", [2]),
        ("$.account.alice.numbers[10]", ["account", "alice", "numbers", 10]),
        (".block[0]", ["block", 0]),
    ],
)
def test_parse_path(path: str, parts: list[str | int]) -> None:
    assert parse_path(path) == parts


@pytest.mark.parametrize(
    ("path", "line"),
    [
        # The document and its top-level keys.
        ("$", 1),
        ("$.schema", 2),
        ("$.default", 3),
        ("$.list", 4),
        ("$.nested", 10),
        # [[array]] index n, and a key inside.
        ("$.block[0]", 17),
        ("$.block[1]", 21),
        ("$.block[0].id", 18),
        ("$.block[1].id", 22),
        ("$.block[0].prefixes", 19),
        ("$.block[1].prefixes", 25),
        ("$.block[1].reason", 32),
        # n-th value of a one-line array.
        ("$.list[0]", 4),
        ("$.list[2]", 4),
        ("$.block[0].prefixes[0]", 19),
        ("$.block[0].prefixes[1]", 19),
        # n-th value of a multi-line array, past comments with quotes and brackets.
        ("$.block[1].prefixes[0]", 26),
        ("$.block[1].prefixes[1]", 28),
        ("$.block[1].prefixes[2]", 28),
        ("$.block[1].prefixes[3]", 29),
        ("$.block[1].prefixes[4]", 30),
        # [table] and dotted [table.sub] headers.
        ("$.account", 34),
        ("$.account.npn", 35),
        ("$.account.alice", 37),
        ("$.account.alice.numbers", 38),
        ("$.account.alice.numbers[1]", 38),
        ("$.table", 40),
        ("$.table.key", 41),
    ],
)
def test_line_of(path: str, line: int) -> None:
    assert line_of(DOC, path) == line


@pytest.mark.parametrize(
    ("path", "line"),
    [
        # Values that are not strings count as elements too.
        ("$.ints[0]", 6),
        ("$.ints[1]", 7),
        ("$.ints[2]", 8),
        # Nested arrays and inline tables are one element each.
        ("$.nested[0]", 11),
        ("$.nested[1]", 12),
        ("$.nested[2]", 13),
        ("$.nested[3]", 14),
    ],
)
def test_line_of_counts_every_array_element(path: str, line: int) -> None:
    assert line_of(DOC, path) == line


@pytest.mark.parametrize(
    ("path", "line"),
    [
        # An index beyond the end of an array: the key's line.
        ("$.list[3]", 4),
        ("$.ints[3]", 5),
        ("$.nested[4]", 10),
        ("$.block[0].prefixes[2]", 19),
        ("$.block[1].prefixes[5]", 25),
        ("$.block[1].prefixes[99]", 25),
        # An index beyond the last [[block]]: not the line of a later or earlier block.
        ("$.block[2]", 1),
        ("$.block[2].id", 1),
        ("$.block[2].prefixes[0]", 1),
        # A key missing from its table: the table's header, not the key in a later table.
        ("$.block[0].reason", 17),
        ("$.block[0].nope", 17),
        ("$.account.bob", 34),
        ("$.account.alice.npn", 37),
        ("$.table.nope", 40),
        # A key that is nowhere, and a key only found in a table, asked for at top level.
        ("$.nope", 1),
        ("$.npn", 1),
        ("$.id", 1),
    ],
)
def test_line_of_falls_back_to_the_enclosing_part(path: str, line: int) -> None:
    assert line_of(DOC, path) == line


def test_line_of_empty_text() -> None:
    assert line_of("", "$.block[0].id") == 1
    assert line_of("", "$") == 1


def test_line_of_does_not_take_a_key_from_a_string_or_comment() -> None:
    text = 'description = "id = 3"\n# id = 4\n\n[[block]]\nnote = "x"\n  id = 5\n'
    assert line_of(text, "$.id") == 1
    assert line_of(text, "$.block[0].id") == 6
    assert line_of(text, "$.block[0].note") == 5
