"""Row ids of the C decision (``_cdecide``) mapped back to what ``policy.decide`` returns.

``cp_decide`` answers with a row: a slot of the snapshot's decision table, or one of the
three number-error rows after the table's (``ERROR_REASONS``, decide.h ``CP_ERR_*``).
Everything of a refusal but the dialled number is the row's, so the edge builds its SIP
answer and its decision-log entry once per row instead of once per call.
"""

from __future__ import annotations

from policy import Decision, Snapshot, sip_answer

__all__ = ["ERROR_REASONS", "RowTable"]

#: The number-error rows, in decide.h's order: row ``table_rows + i`` refuses with the i-th.
ERROR_REASONS = ("invalid_number", "incomplete_number", "carrier_selection")

_REFUSALS = ("block", "reject")


class RowTable:
    """The Decisions behind the row ids of ``CRules.build(snapshot)``, for one snapshot."""

    __slots__ = ("_routes", "refusals", "revision", "table_rows", "templates")

    def __init__(self, snapshot: Snapshot) -> None:
        table = snapshot.table
        # Rows are class-major (table_index): a row's class, hence its carrier, is row // per.
        per_class = len(table) // len(snapshot.classes)
        self.revision = snapshot.revision
        self.table_rows = len(table)
        # authorize.refused(): no rule and no digits, whatever was dialled.
        errors = tuple(Decision("reject", r, None, sip_answer(r)) for r in ERROR_REASONS)
        self.templates: tuple[Decision, ...] = (*table, *errors)
        """Per row, the Decision without the number (the table's template, as compiled)."""
        self.refusals: tuple[Decision | None, ...] = tuple(
            t if t.verdict in _REFUSALS else None for t in self.templates
        )
        """Per row, the refusal minus the number; None on allow and emergency rows."""
        self._routes = tuple(
            snapshot.classes[i // per_class].carrier if t.verdict == "allow" else ""
            for i, t in enumerate(table)
        )

    def __len__(self) -> int:
        return len(self.templates)

    def decision_of(self, row: int, digits: str) -> Decision:
        """The Decision decide() returns for ``row`` and the canonical ``digits``.

        Allow: without the caller identity (``identity`` is None; the UPN check needs the
        call's From, which Python does). Emergency rows raise ValueError: their PSAP route,
        fallback and NPN come from the account, and the edge decides them in Python.
        """
        if not 0 <= row < len(self.templates):
            raise IndexError(f"row {row} is not a row of this table (< {len(self.templates)})")
        t = self.templates[row]
        if row >= self.table_rows:
            return t
        verdict = t.verdict
        if verdict == "allow":
            route = self._routes[row]
            return Decision("allow", t.reason, t.rule, None, route, None, digits, t.category)
        if verdict == "emergency":
            raise ValueError(f"row {row} is an emergency row: decide() it in Python")
        return Decision(verdict, t.reason, t.rule, t.sip, "", None, digits, t.category)
