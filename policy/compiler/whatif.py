"""What-if: replay logged decisions against two rule sets and say what would change.

``callpolicy diff OLD_RULES NEW_RULES --log decisions.jsonl`` compiles both rule sets and
decides every logged call again with each, grouping the calls whose answer differs by the
change (old verdict, reason and rule -> new ones), with counts and example numbers. Only
the rules differ between the two runs: each call is decided for its account as the store
holds it now (or as a plain account with no blocks of its own, offline).

Masked numbers (the log hides the last digits, ``decision_log.mask``) are replayed with
the hidden digits as 0 and as 9; where the two fills disagree on whether or how the answer
changes, the call is counted as ``uncertain`` rather than guessed (a fill is a sample, not
a proof: a range boundary strictly inside the hidden digits goes unseen). Identical
(account, number) pairs are decided once: a million log lines of a few thousand distinct
numbers replay in seconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

import msgspec

from policy.percall.account import CompiledAccount, compile_account
from policy.percall.authorize import decide
from policy.rules.model import AccountPolicy, Call, Decision

from .compile import Snapshot

__all__ = ["ChangeGroup", "DiffReport", "diff"]

#: Example numbers kept per group of changes.
EXAMPLES = 3


class ChangeGroup(msgspec.Struct, frozen=True, kw_only=True):
    """Calls whose answer the new rules change the same way."""

    old: str
    """``verdict reason (rule)`` under the old rules."""
    new: str
    count: int
    examples: list[str]
    """Some of the (masked) numbers concerned, ``+E164``."""


class DiffReport(msgspec.Struct, frozen=True, kw_only=True):
    """What the new rules would change of the logged decisions."""

    old_revision: str
    new_revision: str
    lines: int
    """Log lines read."""
    replayed: int
    """Lines with a number to decide again (the others were not numbers)."""
    distinct: int
    """Distinct (account, number) pairs decided."""
    changed: int
    """Replayed lines whose answer changes."""
    uncertain: int
    """Masked lines whose answer depends on the hidden digits."""
    groups: list[ChangeGroup]
    """By count, largest first."""


class Logged(Protocol):
    """A log line as replayed: a DecisionEventV1 or a ReplayKey."""

    @property
    def account(self) -> str: ...

    @property
    def number(self) -> str: ...


def _answer(d: Decision) -> str:
    rule = f" ({d.rule})" if d.rule else ""
    return f"{d.verdict} {d.reason}{rule}"


def _fills(number: str) -> tuple[str, str]:
    return number.replace("X", "0"), number.replace("X", "9")


class _Side:
    """One rule set, its compiled accounts and its answers, cached."""

    def __init__(self, snap: Snapshot, policy_of: Callable[[str], AccountPolicy]) -> None:
        self.snap = snap
        self._policy_of = policy_of
        self._accounts: dict[str, CompiledAccount] = {}
        self.answers: dict[tuple[str, str], str] = {}

    def account(self, account_id: str) -> CompiledAccount:
        hit = self._accounts.get(account_id)
        if hit is None:
            hit = self._accounts[account_id] = compile_account(
                self.snap, self._policy_of(account_id)
            )
        return hit

    def answer(self, account_id: str, digits: str) -> str:
        key = (account_id, digits)
        hit = self.answers.get(key)
        if hit is None:
            decision = decide(self.snap, Call(to="+" + digits), self.account(account_id))
            hit = self.answers[key] = _answer(decision)
        return hit


def diff(
    old: Snapshot,
    new: Snapshot,
    events: Iterable[Logged],
    accounts: Mapping[str, AccountPolicy] | None = None,
) -> DiffReport:
    """Replay ``events`` against ``old`` and ``new``; what changes, grouped."""
    known = accounts or {}

    def policy_of(account_id: str) -> AccountPolicy:
        return known.get(account_id) or AccountPolicy(account=account_id)

    # Count first, decide once per distinct (account, number): logs repeat numbers.
    seen: Counter[tuple[str, str]] = Counter((e.account, e.number) for e in events)
    sides = (_Side(old, policy_of), _Side(new, policy_of))
    counts: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], list[str]] = {}
    replayed = uncertain = 0
    for (account, number), n in seen.items():
        if not number or not number.replace("X", "").isdigit():
            continue
        replayed += n
        low, high = _fills(number)
        a_old, a_new = (s.answer(account, low) for s in sides)
        if low != high:
            # The hidden digits matter only if they decide whether, or how, the answer
            # changes: a number the old rules already classify by its hidden digits is
            # certainly unchanged when the new rules classify both fills the same way.
            h_old, h_new = (s.answer(account, high) for s in sides)
            if (a_old, a_new) != (h_old, h_new) and not (a_old == a_new and h_old == h_new):
                uncertain += n
                continue
        if a_old == a_new:
            continue
        key = (a_old, a_new)
        counts[key] += n
        shown = examples.setdefault(key, [])
        if len(shown) < EXAMPLES:
            shown.append("+" + number)
    groups = [
        ChangeGroup(old=o, new=n, count=c, examples=examples[(o, n)])
        for (o, n), c in counts.most_common()
    ]
    return DiffReport(
        old_revision=old.revision,
        new_revision=new.revision,
        lines=seen.total(),
        replayed=replayed,
        distinct=len(seen),
        changed=sum(counts.values()),
        uncertain=uncertain,
        groups=groups,
    )
