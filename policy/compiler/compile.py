"""Compile a RuleSet into an immutable Snapshot: a prefix trie plus side tables.

The compiler is an ordered list of named, timed stages (OPA's compiler, style note 5):

1. ``partition``: every prefix any rule names becomes a key; each key gets the attributes
   of the numbers whose longest key-prefix it is (category, country, the hard and default
   blocks covering them, exceptions, carrier). Equal attribute tuples share a class id.
2. ``evaluate_classes``: every distinct (class, length, customer-blocked, lifted) fact is
   evaluated ONCE by the rules engine, in a child process with a timeout (engine.py).
3. ``build_table``: the verdicts become Decision templates, 12 per class.
4. ``build_trie``: key prefix -> class id, in the Cython trie.
5. ``self_check``: every key maps back to its class through the trie.

The per-call path (authorize.decide) never enters the rules engine: it looks up the class
in the trie and indexes the table with the account's two bits and the length check.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from compiled import PrefixTrie
from policy.compiler.engine import Fact, Verdict, evaluate_in_child
from policy.errors import EngineError
from policy.percall.reasons import sip_answer
from policy.rules.load import RuleSet, load_rules, longest
from policy.rules.model import Carrier, Decision, EmergencyArea, RuleRef

__all__ = [
    "COMBOS",
    "SUSPENDED",
    "DestClass",
    "Snapshot",
    "compile_dir",
    "compile_rules",
    "table_index",
]

#: Table slots per class: suspended x length (ok, short, long) x customer-blocked x lifted.
COMBOS = 24
LENGTHS = ("ok", "short", "long")

#: The rule a customer's own block is reported as (the block lives in the account, not a file).
CUSTOMER_RULE = RuleRef("customer-block", "account", 0)
#: The rule an operator suspension is reported as (clause 1; it lives in the account).
SUSPENSION_RULE = RuleRef("operator-suspension", "account", 0)

Evaluator = Callable[[Sequence[Fact]], list[Verdict]]


#: Offset of the suspended half of a class's slots (clause 1: the operator restricted access).
SUSPENDED = 12


def table_index(
    cls: int, length: int, customer_blocked: bool, lifted: bool, suspended: bool = False
) -> int:
    """Slot of the table for a class, a length state (0 ok, 1 short, 2 long) and three bits."""
    return cls * COMBOS + suspended * SUSPENDED + length * 4 + customer_blocked * 2 + lifted


@dataclass(frozen=True, slots=True)
class DestClass:
    """Attributes shared by every number of one class of destinations."""

    category: str
    country: str
    action: str
    reject_reason: str
    min_digits: int
    max_digits: int
    hard: str
    """Id of the hard operator block covering the class ('' if none)."""
    hard_exception: str
    default: str
    """Id of the liftable default block covering the class ('' if none)."""
    default_exception: str
    carrier: str
    presentable: bool
    """May a number of this class be presented as a UPN (clause 9.6, § 120 TKG)?"""


@dataclass(frozen=True)
class Snapshot:
    """Everything the per-call path needs, built once and never changed."""

    rules: RuleSet
    trie: PrefixTrie
    """Key prefix -> class id."""
    classes: tuple[DestClass, ...]
    table: tuple[Decision, ...]
    """Decision templates, ``COMBOS`` per class, indexed by :func:`table_index`."""
    carriers: Mapping[str, Carrier]
    areas: Mapping[str, EmergencyArea]
    stages: Mapping[str, float] = field(default_factory=dict)
    """Seconds per compiler stage."""

    @property
    def revision(self) -> str:
        """The rule revision: sha256 over the rule files."""
        return self.rules.digest

    def class_of(self, digits: str) -> int:
        """Class id of canonical ``digits`` (the root key always matches)."""
        return self.trie.lookup(digits)


def _country(codes: frozenset[str], digits: str) -> str:
    for n in (3, 2, 1):
        if len(digits) >= n and digits[:n] in codes:
            return digits[:n]
    return ""


def _block(
    layer_prefixes: Mapping[str, str],
    by_cat: Mapping[str, str],
    by_country: Mapping[str, str],
    key: str,
    category: str,
    country: str,
) -> str:
    """Most specific block of one layer: prefix, then category, then country (blocks.toml)."""
    hit = longest(layer_prefixes, key)
    if hit is not None:
        return hit[1]
    return by_cat.get(category) or by_country.get(country, "")


def classify(rules: RuleSet, key: str) -> DestClass:
    """The attributes of numbers whose longest key-prefix is ``key``."""
    cat_hit = longest(rules.category_prefixes, key)
    cat_id = cat_hit[1] if cat_hit else rules.plan.default_category
    cat = rules.category_by_id[cat_id]
    country = _country(rules.country_codes, key)
    hard = _block(
        rules.hard.prefixes, rules.hard.categories, rules.hard.countries, key, cat_id, country
    )
    default = _block(
        rules.default.prefixes,
        rules.default.categories,
        rules.default.countries,
        key,
        cat_id,
        country,
    )
    hard_exc = default_exc = ""
    exc_hit = longest(rules.exception_prefixes, key)
    if exc_hit is not None:
        exc = rules.exception_by_id[exc_hit[1]]
        if exc.of == hard:
            hard_exc = exc.id
        elif exc.of == default:
            default_exc = exc.id
    carrier_hit = longest(rules.carrier_prefixes, key)
    return DestClass(
        category=cat_id,
        country=country,
        action=cat.action,
        reject_reason=cat.reject_reason or "",
        min_digits=cat.min_digits,
        max_digits=cat.max_digits,
        hard=hard,
        hard_exception=hard_exc,
        default=default,
        default_exception=default_exc,
        carrier=carrier_hit[1] if carrier_hit else rules.carriers.default,
        presentable=cat_id not in rules.clip.never_present and country == "49",
    )


def fact_for(
    rules: RuleSet,
    c: DestClass,
    length: str,
    customer_blocked: bool,
    lifted: bool,
    suspended: bool = False,
) -> Fact:
    """The engine fact for a class and an account state."""
    blocks = rules.block_by_id
    return Fact(
        action=c.action,  # type: ignore[arg-type]
        reject_reason=c.reject_reason,
        length=length,  # type: ignore[arg-type]
        hard_reason=blocks[c.hard].reason if c.hard else "",
        hard_excepted=bool(c.hard_exception),
        default_reason=blocks[c.default].reason if c.default else "",
        default_excepted=bool(c.default_exception),
        customer_blocked=customer_blocked,
        lifted=lifted,
        suspended=suspended,
    )


def template(rules: RuleSet, c: DestClass, v: Verdict) -> Decision:
    """The Decision (without the per-call number, route and identity) for a verdict."""
    if v.source == "hard":
        rule = rules.ref("block", c.hard)
    elif v.source in ("default", "lifted"):
        rule = rules.ref("block", c.default)
    elif v.source == "exception":
        rule = rules.ref("exception", c.hard_exception or c.default_exception)
    elif v.source == "customer":
        rule = CUSTOMER_RULE
    elif v.source == "suspension":
        rule = SUSPENSION_RULE
    else:  # category, length, allow
        rule = rules.ref("category", c.category)
    sip = sip_answer(v.reason) if v.verdict in ("block", "reject") else None
    return Decision(v.verdict, v.reason, rule, sip, category=c.category)


def _keys(rules: RuleSet) -> set[str]:
    keys = {""}
    keys.update(rules.category_prefixes, rules.exception_prefixes, rules.carrier_prefixes)
    keys.update(rules.hard.prefixes, rules.default.prefixes, rules.country_codes)
    return keys


def compile_rules(rules: RuleSet, evaluate: Evaluator = evaluate_in_child) -> Snapshot:
    """Compile ``rules`` into a Snapshot. ``evaluate`` runs the engine (a child by default)."""
    stages: dict[str, float] = {}
    t0 = time.perf_counter()

    # Stage partition: keys -> classes.
    class_ids: dict[DestClass, int] = {}
    pairs: list[tuple[str, int]] = []
    for key in sorted(_keys(rules)):
        c = classify(rules, key)
        pairs.append((key, class_ids.setdefault(c, len(class_ids))))
    classes = tuple(class_ids)
    t1 = time.perf_counter()
    stages["partition"] = t1 - t0

    # Stage evaluate_classes: each distinct fact once, through durable-rules.
    facts: dict[Fact, int] = {}
    slots: list[int] = []
    for c in classes:
        for suspended in (False, True):
            for length in LENGTHS:
                for cb in (False, True):
                    for lifted in (False, True):
                        f = fact_for(rules, c, length, cb, lifted, suspended)
                        slots.append(facts.setdefault(f, len(facts)))
    verdicts = evaluate(list(facts))
    if len(verdicts) != len(facts):
        raise EngineError(f"engine answered {len(verdicts)} of {len(facts)} facts")
    t2 = time.perf_counter()
    stages["evaluate_classes"] = t2 - t1

    # Stage build_table: interned Decision templates.
    interned: dict[Decision, Decision] = {}
    table = []
    for i, slot in enumerate(slots):
        d = template(rules, classes[i // COMBOS], verdicts[slot])
        table.append(interned.setdefault(d, d))
    t3 = time.perf_counter()
    stages["build_table"] = t3 - t2

    trie = PrefixTrie.build(pairs)
    t4 = time.perf_counter()
    stages["build_trie"] = t4 - t3

    # Stage self_check: the trie gives every key its own class back.
    for key, cls in pairs:
        if trie.lookup(key) != cls:
            raise EngineError(f"trie self-check failed at prefix {key!r}")
    stages["self_check"] = time.perf_counter() - t4

    return Snapshot(
        rules=rules,
        trie=trie,
        classes=classes,
        table=tuple(table),
        carriers={c.id: c for c in rules.carriers.carrier},
        areas={a.id: a for a in rules.emergency.area},
        stages=stages,
    )


def compile_dir(directory: str, evaluate: Evaluator = evaluate_in_child) -> Snapshot:
    """Load and compile the rules in ``directory`` (raises RuleErrors / EngineError)."""
    t0 = time.perf_counter()
    rules = load_rules(directory)
    load_time = time.perf_counter() - t0
    snap = compile_rules(rules, evaluate)
    return dataclasses.replace(snap, stages={"load_files": load_time, **snap.stages})
