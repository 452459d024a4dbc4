"""The published list of operator blocks (clause 9.5: the customer gets it on request).

Public information: every entry says which numbers it covers in a form a customer can
dial and compare (``0181``, ``+881``, ``118``), not only the operator's ids. A category
entry lists the category's prefixes and the prefixes inside them that belong to other
categories (``excluding``); a country entry its calling code.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Literal

import msgspec

from policy.percall.numbers import NumberError, canonical_prefix
from policy.rules.load import RuleSet, longest

__all__ = ["PublishedEntry", "dialable_prefix", "published_blocks", "to_csv"]


class PublishedEntry(msgspec.Struct, frozen=True):
    """One blocked (or excepted) number, prefix, category or country."""

    kind: Literal["prefix", "category", "country", "exception"]
    value: str
    """As the operator wrote it: ``09001``, ``directory``, ``881``, ``11822``."""
    block: str
    reason: str
    liftable: bool
    fee_cents: int | None
    clause: str | None
    prefixes: tuple[str, ...] = ()
    """The numbers covered, as dialled from a German line: ``0181``, ``118``, ``+881``
    (``+`` alone: every number outside the prefixes of the other categories)."""
    canonical: tuple[str, ...] = ()
    """The same prefixes as canonical E.164 digits without ``+`` (``49181``, ``881``)."""
    excluding: tuple[str, ...] = ()
    """For a category: prefixes inside ``prefixes`` that belong to other categories (as
    dialled), so not covered by this entry."""


def dialable_prefix(canonical: str) -> str:
    """A canonical prefix as dialled from a German line: ``49181`` -> ``0181``.

    German service codes are dialled without the trunk 0 (``49118`` -> ``118``), other
    German numbers with it, foreign ones with ``+`` and the country code.
    """
    if not canonical.startswith("49"):
        return "+" + canonical
    national = canonical[2:]
    if national.startswith("1"):
        try:
            canonical_prefix(national)  # accepted only for a service code or a prefix of one
        except NumberError:
            pass
        else:
            return national
    return "0" + national


def _category_ranges(rules: RuleSet) -> Mapping[str, tuple[list[str], list[str]]]:
    """Category id -> (its canonical prefixes, other categories' prefixes directly inside).

    A number belongs to the category of its longest matching prefix, and the default
    category owns the root (every number no prefix matches).
    """
    table = rules.category_prefixes
    out: dict[str, tuple[list[str], list[str]]] = {c.id: ([], []) for c in rules.plan.category}
    out[rules.plan.default_category][0].append("")
    for prefix, cat in sorted(table.items()):
        out[cat][0].append(prefix)
        outer = longest(table, prefix[:-1])  # the category around it
        outer_cat = outer[1] if outer is not None else rules.plan.default_category
        if outer_cat != cat:
            out[outer_cat][1].append(prefix)
    return out


def published_blocks(rules: RuleSet) -> list[PublishedEntry]:
    """Every operator block and exception, in file order, with the numbers each covers."""
    ranges = _category_ranges(rules)
    out: list[PublishedEntry] = []
    for b in rules.blocks.block:
        common = (b.id, b.reason, b.liftable, b.fee_cents, b.clause)
        for v in b.prefixes:
            canon = canonical_prefix(v)  # the loader checked it
            out.append(PublishedEntry("prefix", v, *common, (dialable_prefix(canon),), (canon,)))
        for v in b.categories:
            own, inner = ranges[v]
            out.append(
                PublishedEntry(
                    "category",
                    v,
                    *common,
                    tuple(dialable_prefix(p) for p in own),
                    tuple(own),
                    tuple(dialable_prefix(p) for p in inner),
                )
            )
        for v in b.countries:
            out.append(PublishedEntry("country", v, *common, ("+" + v,), (v,)))
    for e in rules.blocks.exception:
        for v in e.prefixes:
            canon = canonical_prefix(v)
            out.append(
                PublishedEntry(
                    "exception",
                    v,
                    e.of,
                    "exception",
                    False,
                    None,
                    e.clause,
                    (dialable_prefix(canon),),
                    (canon,),
                )
            )
    return out


def to_csv(entries: list[PublishedEntry]) -> str:
    """The list as CSV with a header row; several prefixes in one cell, space-separated."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    fields = [f.name for f in msgspec.structs.fields(PublishedEntry)]
    writer.writerow(fields)
    for e in entries:
        writer.writerow([_cell(getattr(e, f)) for f in fields])
    return buf.getvalue()


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return " ".join(str(v) for v in value)
    return str(value)
