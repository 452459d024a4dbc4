"""The published list of operator blocks (clause 9.5: the customer gets it on request)."""

from __future__ import annotations

import csv
import io
from typing import Literal

import msgspec

from .load import RuleSet

__all__ = ["PublishedEntry", "published_blocks", "to_csv"]


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


def published_blocks(rules: RuleSet) -> list[PublishedEntry]:
    """Every operator block and exception, in file order."""
    out: list[PublishedEntry] = []
    for b in rules.blocks.block:
        for kind, values in (
            ("prefix", b.prefixes),
            ("category", b.categories),
            ("country", b.countries),
        ):
            out.extend(
                PublishedEntry(kind, v, b.id, b.reason, b.liftable, b.fee_cents, b.clause)  # type: ignore[arg-type]
                for v in values
            )
    for e in rules.blocks.exception:
        out.extend(
            PublishedEntry("exception", v, e.of, "exception", False, None, e.clause)
            for v in e.prefixes
        )
    return out


def to_csv(entries: list[PublishedEntry]) -> str:
    """The list as CSV with a header row."""
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
    return str(value)
