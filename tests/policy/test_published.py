"""The published list of operator blocks (policy/published.py, clause 9.5)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from policy import RuleSet, load_rules
from policy.rules.published import PublishedEntry, dialable_prefix, published_blocks, to_csv

COUNTRY_AND_GEOGRAPHIC = """
[[block]]
id = "satellite"
reason = "country_blocked"
clause = "9.5"
countries = ["881"]
liftable = false

[[block]]
id = "landlines"
reason = "operator_block"
categories = ["geographic", "international"]
liftable = false
"""


@pytest.mark.parametrize(
    ("canonical", "dialled"),
    [
        ("49181", "0181"),
        ("4912", "012"),
        ("4915", "015"),
        ("499001", "09001"),
        ("49118", "118"),  # service codes are dialled without the trunk 0
        ("4911822", "11822"),
        ("49110", "110"),
        ("49", "0"),
        ("881", "+881"),
        ("4420", "+4420"),
        ("", "+"),
    ],
)
def test_dialable_prefix(canonical: str, dialled: str) -> None:
    assert dialable_prefix(canonical) == dialled


def _by_value(entries: list[PublishedEntry]) -> dict[str, PublishedEntry]:
    return {e.value: e for e in entries}


def test_categories_list_their_number_ranges(rules: RuleSet) -> None:
    entries = _by_value(published_blocks(rules))

    user_groups = entries["user_groups"]
    assert (user_groups.kind, user_groups.block) == ("category", "user-groups")
    assert user_groups.prefixes == tuple(f"018{d}" for d in range(1, 10))
    assert user_groups.canonical == tuple(f"4918{d}" for d in range(1, 10))
    assert user_groups.excluding == ()
    assert (entries["service_012"].prefixes, entries["service_012"].canonical) == (
        ("012",),
        ("4912",),
    )
    assert (entries["directory"].prefixes, entries["directory"].canonical) == (
        ("118",),
        ("49118",),
    )
    # Prefixes and exceptions: as dialled and canonical.
    assert (entries["09001"].prefixes, entries["09001"].canonical) == (("09001",), ("499001",))
    assert (entries["11822"].kind, entries["11822"].block) == ("exception", "directory")
    assert (entries["11822"].prefixes, entries["11822"].canonical) == (("11822",), ("4911822",))


def test_countries_and_nested_categories(rules_copy: Path) -> None:
    with (rules_copy / "blocks.toml").open("a", encoding="utf-8") as fh:
        fh.write(COUNTRY_AND_GEOGRAPHIC)
    entries = _by_value(published_blocks(load_rules(rules_copy)))

    satellite = entries["881"]
    assert (satellite.kind, satellite.prefixes, satellite.canonical) == (
        "country",
        ("+881",),
        ("881",),
    )
    # Geographic 03 holds 031 (carrier test) and 032 (nationwide) of other categories;
    # 09 holds premium rate 0900.
    geographic = entries["geographic"]
    assert "03" in geographic.prefixes and "493" in geographic.canonical
    assert {"031", "032", "0900"} <= set(geographic.excluding)
    assert not set(geographic.excluding) & set(geographic.prefixes)
    # The default category: every number no other category's prefix matches.
    international = entries["international"]
    assert international.prefixes[0] == "+" and international.canonical[0] == ""
    assert "0" in international.excluding  # Germany: the rest of the plan
    assert "0181" not in international.excluding  # inside 0, not directly under the root


def test_csv_has_the_ranges_space_separated(rules: RuleSet) -> None:
    entries = published_blocks(rules)

    rows = list(csv.DictReader(io.StringIO(to_csv(entries))))

    assert list(rows[0]) == [
        "kind",
        "value",
        "block",
        "reason",
        "liftable",
        "fee_cents",
        "clause",
        "prefixes",
        "canonical",
        "excluding",
    ]
    row = next(r for r in rows if r["value"] == "user_groups")
    assert row["prefixes"].split() == [f"018{d}" for d in range(1, 10)]
    assert row["canonical"].split() == [f"4918{d}" for d in range(1, 10)]
    assert (row["excluding"], row["liftable"], row["fee_cents"]) == ("", "true", "2500")
    assert [r["value"] for r in rows] == [e.value for e in entries]
