"""Why is this number blocked? The decision with the chain of rules that were considered.

The chain walks the fixed precedence of DESIGN.md step by step, saying for each step which
rule (id, file:line) was a candidate and whether it decided, so an operator sees not only
the rule that won but the ones that were passed over and why.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from policy.compiler.compile import SUSPENSION_RULE, DestClass, Snapshot
from policy.percall.account import CompiledAccount
from policy.percall.authorize import decide
from policy.percall.numbers import NumberError, canonical_prefix
from policy.rules.model import Call, Decision, RuleRef

__all__ = ["BlockMatch", "Explanation", "Step", "explain"]

Outcome = Literal["decided", "passed", "not_applicable", "not_reached"]


class Step(msgspec.Struct, frozen=True):
    """One precedence step and what it did for this call."""

    step: str
    outcome: Outcome
    note: str
    rule: RuleRef | None = None


class BlockMatch(msgspec.Struct, frozen=True):
    """One of the account's own blocks (clause 9.5 ¶3) that covers the number."""

    kind: Literal["category", "country", "prefix"]
    value: str
    """As the account holds it: a category id, a country calling code, a prefix."""
    canonical: str = ""
    """For a prefix: its canonical digits (the longest of the account's prefixes matched)."""

    def __str__(self) -> str:
        shown = f"{self.value} ({self.canonical})" if self.canonical else self.value
        return f"{self.kind} {shown}"


class Explanation(msgspec.Struct, frozen=True):
    """The decision for one call and how it was reached."""

    dial: str
    decision: Decision
    matched_prefix: str = ""
    """The longest rule prefix the number matched in the trie ('' for the root)."""
    country: str = ""
    revision: str = ""
    steps: tuple[Step, ...] = ()
    customer_blocks: tuple[BlockMatch, ...] = ()
    """The account's own blocks that cover the number (whether or not their step decided)."""
    suspension: str = ""
    """The operator's suspension of the account (clause 1), if any: ground, note, since, by."""
    dialer_flag: str = "none"
    """The power-dialer escalation of the account (clause 7.2), enforced by the edge."""
    decision_id: str = ""
    """The decision's id in the decision log (set by the API)."""


def _customer_blocks(account: CompiledAccount, c: DestClass, digits: str) -> list[BlockMatch]:
    """Which of the account's blocks cover ``digits``: category, country, longest prefix.

    The same tests compile_account() turns into class ids and a prefix trie, asked again on
    the account's policy, so the explanation can name what the per-call path only counts.
    """
    policy = account.policy
    found = []
    if c.category in policy.blocked_categories:
        found.append(BlockMatch("category", c.category))
    if c.country in policy.blocked_countries:
        found.append(BlockMatch("country", c.country))
    best: BlockMatch | None = None
    for text in policy.blocked_prefixes:
        try:
            canon = canonical_prefix(text)
        except NumberError:  # compile_account() refused such an account already
            continue
        if digits.startswith(canon) and (best is None or len(canon) > len(best.canonical)):
            best = BlockMatch("prefix", text, canon)
    if best is not None:
        found.append(best)
    return found


def _candidates(
    snap: Snapshot,
    c: DestClass,
    digits: str,
    account: CompiledAccount,
    cls: int,
    matches: list[BlockMatch],
) -> list[tuple[str, bool, str, RuleRef | None]]:
    """(step, applies, note, rule) for every precedence step, in order."""
    rules = snap.rules
    n = len(digits)
    cat_ref = rules.ref("category", c.category)
    prefixes = account.blocked_prefixes
    by_prefix = prefixes is not None and prefixes.lookup(digits) >= 0
    customer = cls in account.blocked_classes or by_prefix
    named = ", ".join(str(m) for m in matches)
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
            "operator_suspension",
            account.suspended,
            account.policy.suspension or "the account is not suspended",
            SUSPENSION_RULE if account.suspended else None,
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
            f"blocked by the account: {named or 'one of its blocks'}"
            if customer
            else "the account blocks nothing here",
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
        return Explanation(
            call.to,
            decision,
            revision=snap.revision,
            steps=(step,),
            suspension=account.policy.suspension,
            dialer_flag=account.policy.dialer_flag,
        )
    digits = decision.number
    cls = snap.trie.lookup(digits)
    value, length = snap.trie.match(digits)
    c = snap.classes[cls]
    matches = _customer_blocks(account, c, digits)
    steps: list[Step] = []
    decided = False
    for name, applies, note, rule in _candidates(snap, c, digits, account, cls, matches):
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
        customer_blocks=tuple(matches),
        suspension=account.policy.suspension,
        dialer_flag=account.policy.dialer_flag,
    )
