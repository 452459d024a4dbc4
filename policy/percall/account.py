"""An account's policy state, compiled against one Snapshot for the per-call path.

The customer's blocks by category or country and its lifted default blocks become sets of
class ids, so the per-call path asks two set-membership questions; its own blocked prefixes
become a small trie. Compiled once per (account, snapshot) and rebuilt when either changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from compiled import PrefixTrie
from policy.compiler.compile import Snapshot
from policy.errors import AccountError
from policy.percall.numbers import NumberError, canonical, canonical_prefix
from policy.rules.model import AccountPolicy, EmergencyArea, Identity

__all__ = ["MAX_OWN_NUMBERS", "CompiledAccount", "compile_account"]

#: Own numbers (single numbers plus expanded blocks) an account may hold; blocks are small
#: fixed ranges (clause 9.2), so a set is both the simplest and the fastest membership test.
MAX_OWN_NUMBERS = 100_000


@dataclass(frozen=True, slots=True)
class CompiledAccount:
    """What decide() needs to know about the calling account."""

    account: str
    revision: str
    """The snapshot revision this was compiled against."""
    area_code: str
    npn: Identity | None
    own_numbers: frozenset[str]
    blocked_classes: frozenset[int]
    lifted_classes: frozenset[int]
    blocked_prefixes: PrefixTrie | None
    emergency_area: EmergencyArea
    policy: AccountPolicy
    suspended: bool = False
    """The operator suspended outgoing calls (clause 1): the table's suspended half."""
    presentation: Mapping[str, str] = field(default_factory=dict)
    """Extension -> number to present, as written (checked against own_numbers per call)."""


def _canon_number(text: str, area_code: str, what: str, errors: list[str]) -> str:
    try:
        return canonical(
            text if text.startswith(("+", "0", "tel:", "sip:")) else "+" + text, area_code
        )
    except NumberError as exc:
        errors.append(f"{what}: {exc}")
        return ""


def _own_numbers(policy: AccountPolicy, npn: str, area_code: str, errors: list[str]) -> set[str]:
    """The NPN, the single numbers and every number of the account's blocks."""
    own: set[str] = {npn} if npn else set()
    for i, number in enumerate(policy.numbers):
        own.add(_canon_number(number, area_code, f"numbers[{i}]", errors))
    for i, rng in enumerate(policy.number_blocks):
        first = _canon_number(rng.first, area_code, f"number_blocks[{i}].first", errors)
        last = _canon_number(rng.last, area_code, f"number_blocks[{i}].last", errors)
        if not first or not last:
            continue
        if len(first) != len(last) or first > last:
            errors.append(
                f"number_blocks[{i}]: expected first <= last of one length, got {first}..{last}"
            )
            continue
        if int(last) - int(first) + 1 + len(own) > MAX_OWN_NUMBERS:
            errors.append(f"number_blocks[{i}]: more than {MAX_OWN_NUMBERS} own numbers")
            continue
        width = len(first)
        own.update(str(n).zfill(width) for n in range(int(first), int(last) + 1))
    own.discard("")
    return own


def compile_account(snapshot: Snapshot, policy: AccountPolicy) -> CompiledAccount:
    """Check ``policy`` against the snapshot's rules and compile it (raises AccountError)."""
    rules = snapshot.rules
    errors: list[str] = []
    area_code = policy.area_code[1:] if policy.area_code.startswith("0") else policy.area_code
    if area_code and not (area_code.isascii() and area_code.isdigit() and 2 <= len(area_code) <= 5):
        errors.append(f"area_code: expected 2-5 digits, got {policy.area_code!r}")
        area_code = ""
    npn = _canon_number(policy.npn, area_code, "npn", errors) if policy.npn else ""
    own = _own_numbers(policy, npn, area_code, errors)

    blocked_cats = set(policy.blocked_categories)
    for cat in sorted(blocked_cats - set(rules.category_by_id)):
        errors.append(f"blocked_categories: expected a category id, got {cat!r}")
    blocked_countries = set(policy.blocked_countries)
    for code in sorted(blocked_countries - rules.country_codes):
        errors.append(f"blocked_countries: expected a country calling code, got {code!r}")
    lifted = set(policy.lifted)
    for block_id in sorted(lifted):
        block = rules.block_by_id.get(block_id)
        if block is None or not block.liftable:
            errors.append(f"lifted: expected the id of a liftable block, got {block_id!r}")
    prefixes: list[tuple[str, int]] = []
    for i, text in enumerate(policy.blocked_prefixes):
        try:
            prefixes.append((canonical_prefix(text), 1))
        except NumberError as exc:
            errors.append(f"blocked_prefixes[{i}]: {exc}")
    for ext, number in policy.presentation.items():
        _canon_number(number, area_code, f"presentation[{ext!r}]", errors)
    area_id = policy.emergency_area or rules.emergency.default_area
    area = snapshot.areas.get(area_id)
    if area is None:
        errors.append(f"emergency_area: expected an area of emergency.toml, got {area_id!r}")
        area = snapshot.areas[rules.emergency.default_area]
    if errors:
        raise AccountError(policy.account, errors)

    blocked_classes = frozenset(
        i
        for i, c in enumerate(snapshot.classes)
        if c.category in blocked_cats or c.country in blocked_countries
    )
    lifted_classes = frozenset(i for i, c in enumerate(snapshot.classes) if c.default in lifted)
    return CompiledAccount(
        account=policy.account,
        revision=snapshot.revision,
        area_code=area_code,
        npn=Identity(npn, "npn") if npn else None,
        own_numbers=frozenset(own),
        blocked_classes=blocked_classes,
        lifted_classes=lifted_classes,
        blocked_prefixes=PrefixTrie.build(dict(prefixes).items()) if prefixes else None,
        emergency_area=area,
        policy=policy,
        suspended=policy.suspended,
        presentation=dict(policy.presentation),
    )
