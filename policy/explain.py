"""Why is this number blocked? The decision with the chain of rules that were considered.

The chain walks the fixed precedence of DESIGN.md step by step, saying for each step which
rule (id, file:line) was a candidate and whether it decided, so an operator sees not only
the rule that won but the ones that were passed over and why.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from .account import CompiledAccount
from .authorize import decide
from .compile import DestClass, Snapshot
from .model import Call, Decision, RuleRef

__all__ = ["Explanation", "Step", "explain"]

Outcome = Literal["decided", "passed", "not_applicable", "not_reached"]


class Step(msgspec.Struct, frozen=True):
    """One precedence step and what it did for this call."""

    step: str
    outcome: Outcome
    note: str
    rule: RuleRef | None = None


class Explanation(msgspec.Struct, frozen=True):
    """The decision for one call and how it was reached."""

    dial: str
    decision: Decision
    matched_prefix: str = ""
    """The longest rule prefix the number matched in the trie ('' for the root)."""
    country: str = ""
    revision: str = ""
    steps: tuple[Step, ...] = ()


def _candidates(
    snap: Snapshot, c: DestClass, digits: str, account: CompiledAccount, cls: int
) -> list[tuple[str, bool, str, RuleRef | None]]:
    """(step, applies, note, rule) for every precedence step, in order."""
    rules = snap.rules
    n = len(digits)
    cat_ref = rules.ref("category", c.category)
    prefixes = account.blocked_prefixes
    by_prefix = prefixes is not None and prefixes.lookup(digits) >= 0
    customer = cls in account.blocked_classes or by_prefix
    hard_ref = rules.ref("block", c.hard) if c.hard else None
    default_ref = rules.ref("block", c.default) if c.default else None
    exc = c.hard_exception or c.default_exception
    exc_note = f"; excepted by {rules.ref('exception', exc)}" if exc else ""
    lifted = cls in account.lifted_classes
    return [
        (
            "emergency",
            c.action == "emergency" and c.min_digits <= n <= c.max_digits,
            f"category {c.category}",
            cat_ref,
        ),
        (
            "not_a_destination",
            c.action == "reject",
            f"category {c.category} action {c.action}",
            cat_ref,
        ),
        (
            "length",
            not c.min_digits <= n <= c.max_digits,
            f"{n} digits, category allows {c.min_digits}-{c.max_digits}",
            cat_ref,
        ),
        (
            "operator_hard_block",
            bool(c.hard) and not c.hard_exception,
            (f"block {c.hard}" + (exc_note if c.hard_exception else "")) if c.hard else "none",
            hard_ref,
        ),
        (
            "customer_block",
            customer,
            "blocked by the account" if customer else "the account blocks nothing here",
            None,
        ),
        (
            "lifted_default_block",
            bool(c.default) and not c.default_exception and lifted,
            f"block {c.default}, lifted={lifted}" if c.default else "none",
            default_ref,
        ),
        (
            "operator_default_block",
            bool(c.default) and not c.default_exception,
            (f"block {c.default}" + (exc_note if c.default_exception else ""))
            if c.default
            else "none",
            default_ref,
        ),
        ("allow", True, "nothing blocks it", cat_ref),
    ]


def explain(snap: Snapshot, call: Call, account: CompiledAccount) -> Explanation:
    """Decide ``call`` and say which rules were considered on the way."""
    decision = decide(snap, call, account)
    if not decision.number:
        step = Step("number", "decided", f"not a callable number: {decision.reason}")
        return Explanation(call.to, decision, revision=snap.revision, steps=(step,))
    digits = decision.number
    cls = snap.trie.lookup(digits)
    value, length = snap.trie.match(digits)
    c = snap.classes[cls]
    steps: list[Step] = []
    decided = False
    for name, applies, note, rule in _candidates(snap, c, digits, account, cls):
        if decided:
            outcome: Outcome = "not_reached"
        elif applies:
            outcome, decided = "decided", True
        else:
            outcome = "passed" if rule is not None else "not_applicable"
        steps.append(Step(name, outcome, note, rule))
    return Explanation(
        call.to,
        decision,
        matched_prefix=digits[:length] if value >= 0 else "",
        country=c.country,
        revision=snap.revision,
        steps=tuple(steps),
    )
