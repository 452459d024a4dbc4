"""The slow path: decide a call by scanning the rules and asking durable-rules directly.

No trie, no class table, no compiled account: every attribute is found by a linear scan of
the canonical rule tables and the account's raw policy, and the verdict comes from one
engine evaluation. The differential tests hold :func:`decide_direct` and
:func:`policy.percall.authorize.decide` to the same Decision; ``callpolicy explain --no-index``
uses it for debugging.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from policy.compiler.compile import DestClass, fact_for, template
from policy.compiler.engine import Engine
from policy.percall.authorize import refused
from policy.percall.numbers import NumberError, canonical, canonical_prefix
from policy.percall.reasons import sip_answer
from policy.rules.load import RuleSet
from policy.rules.model import AccountPolicy, Call, Decision, Identity

__all__ = ["attributes", "decide_direct"]


def _scan(table: Mapping[str, str], digits: str) -> str | None:
    """Value of the longest key of ``table`` that ``digits`` starts with (a linear scan)."""
    best: tuple[int, str] | None = None
    for prefix, value in table.items():
        if digits.startswith(prefix) and (best is None or len(prefix) > best[0]):
            best = (len(prefix), value)
    return best[1] if best else None


def _starts(digits: str, prefixes: Iterable[str]) -> str | None:
    best = None
    for p in prefixes:
        if digits.startswith(p) and (best is None or len(p) > len(best)):
            best = p
    return best


def attributes(rules: RuleSet, digits: str) -> DestClass:
    """The class attributes of canonical ``digits``, found by scanning every rule."""
    cat_id = _scan(rules.category_prefixes, digits) or rules.plan.default_category
    cat = rules.category_by_id[cat_id]
    country = _starts(digits, rules.country_codes) or ""

    def most_specific(
        prefixes: Mapping[str, str], cats: Mapping[str, str], countries: Mapping[str, str]
    ) -> str:
        return _scan(prefixes, digits) or cats.get(cat_id) or countries.get(country) or ""

    hard = most_specific(rules.hard.prefixes, rules.hard.categories, rules.hard.countries)
    default = most_specific(
        rules.default.prefixes, rules.default.categories, rules.default.countries
    )
    exc_id = _scan(rules.exception_prefixes, digits)
    exc_of = rules.exception_by_id[exc_id].of if exc_id else None
    return DestClass(
        category=cat_id,
        country=country,
        action=cat.action,
        reject_reason=cat.reject_reason or "",
        min_digits=cat.min_digits,
        max_digits=cat.max_digits,
        hard=hard,
        hard_exception=exc_id if exc_id and exc_of == hard else "",
        default=default,
        default_exception=exc_id if exc_id and exc_of == default and exc_of != hard else "",
        carrier=_scan(rules.carrier_prefixes, digits) or rules.carriers.default,
        presentable=cat_id not in rules.clip.never_present and country == "49",
    )


def _plus(text: str) -> str:
    return text if text.startswith(("+", "0", "tel:", "sip:")) else "+" + text


def _owns(policy: AccountPolicy, number: str, area_code: str) -> bool:
    """Whether ``number`` is one of the account's numbers (a scan over numbers and blocks)."""
    for text in (policy.npn, *policy.numbers):
        if text and canonical(_plus(text), area_code) == number:
            return True
    for rng in policy.number_blocks:
        first, last = canonical(_plus(rng.first), area_code), canonical(_plus(rng.last), area_code)
        if len(number) == len(first) and first <= number <= last:
            return True
    return False


def decide_direct(
    rules: RuleSet, call: Call, policy: AccountPolicy, engine: Engine | None = None
) -> Decision:
    """Decide ``call`` without any compiled structure, asking the engine directly."""
    area_code = policy.area_code[1:] if policy.area_code.startswith("0") else policy.area_code
    try:
        digits = canonical(call.to, area_code)
    except NumberError as exc:
        return refused(exc)
    c = attributes(rules, digits)
    n = len(digits)
    length = "short" if n < c.min_digits else "long" if n > c.max_digits else "ok"
    customer_blocked = (
        c.category in policy.blocked_categories
        or c.country in policy.blocked_countries
        or any(digits.startswith(canonical_prefix(p)) for p in policy.blocked_prefixes)
    )
    lifted = bool(c.default) and c.default in policy.lifted
    fact = fact_for(rules, c, length, customer_blocked, lifted, policy.suspended)
    (verdict,) = (engine or Engine.instance()).evaluate([fact])
    t = template(rules, c, verdict)
    npn = Identity(canonical(_plus(policy.npn), area_code), "npn") if policy.npn else None
    if t.verdict == "emergency":
        areas = {a.id: a for a in rules.emergency.area}
        area = areas[policy.emergency_area or rules.emergency.default_area]
        # By the number dialled, field by field (authorize.emergency_routes, spelled out).
        by_number = {
            "49110": (area.routing_110, area.fallback_110),
            "49112": (area.routing_112, area.fallback_112),
        }
        if digits not in by_number:
            sip = sip_answer("invalid_number")
            return Decision("reject", "invalid_number", t.rule, sip, "", None, digits, t.category)
        route, fallback = by_number[digits]
        return Decision(
            "emergency", t.reason, t.rule, None, route, npn, digits, t.category, fallback
        )
    if t.verdict != "allow":
        return Decision(t.verdict, t.reason, t.rule, t.sip, "", None, digits, t.category)
    carrier = next(x for x in rules.carriers.carrier if x.id == c.carrier)
    identity = npn
    if call.from_number and carrier.carries_upn:
        candidate = policy.presentation.get(call.from_number, call.from_number)
        try:
            upn = canonical(candidate, area_code)
        except NumberError:
            upn = ""
        if (
            upn
            and _owns(policy, upn, area_code)
            and attributes(rules, upn).presentable
            and (npn is None or upn != npn.number)
        ):
            identity = Identity(upn, "upn")
    return Decision("allow", t.reason, t.rule, None, c.carrier, identity, digits, t.category)
