"""What customers may do with their account: block, lift (paid), declare and move sites.

Request-time logic for the API, kept out of the handlers. Whether a block may be lifted,
and at what fee, is asked of the rules engine (clause 9.5); the site rules follow clauses
9.3 and 10 and german-numbering.md (without the BNetzA local-network GIS data, a site's
area code must equal the area code of the account's geographic numbers).
"""

from __future__ import annotations

from msgspec import Struct

from policy.compiler.engine import Engine, LiftFact
from policy.errors import CustomerError
from policy.percall.numbers import NumberError, canonical_prefix, geographic_area_code
from policy.rules.load import RuleSet
from policy.rules.model import RuleRef
from policy.state.accounts import Account, BlockTarget, Site
from policy.state.lifecycle import HELD

__all__ = [
    "CustomerError",
    "UnblockQuote",
    "add_block",
    "apply_unblock",
    "geographic_area_code",
    "move_site",
    "normalise_target",
    "quote_unblock",
    "refuse",
    "resolve_site",
]


class UnblockQuote(Struct, frozen=True, kw_only=True):
    """The answer to "what would lifting this cost?" (shown before the charge)."""

    target: BlockTarget
    allowed: bool
    fee_cents: int
    reason: str
    rule: RuleRef | None = None


def normalise_target(rules: RuleSet, target: BlockTarget) -> BlockTarget:
    """Check a target against the rules; prefixes become canonical digits."""
    kind, value = target.kind, target.value
    if kind == "category" and value not in rules.category_by_id:
        raise CustomerError("invalid_target", f"unknown category {value!r}", "value")
    if kind == "country" and value not in rules.country_codes:
        raise CustomerError(
            "invalid_target", f"expected a country calling code, got {value!r}", "value"
        )
    if kind == "operator" and value not in rules.block_by_id:
        raise CustomerError("unknown_block", f"no operator block {value!r}", "value")
    if kind == "prefix":
        # Dialled form ("+4989", "089") or canonical E.164 digits as stored and shown
        # ("4989", "1212"): bare digits are canonical, so normalising is idempotent.
        # (A bare "118" would be ambiguous with NANP +1 18…: write "+49 118" or a category.)
        text = value if value.startswith(("+", "0")) else "+" + value
        try:
            return BlockTarget("prefix", canonical_prefix(text))
        except NumberError as exc:
            raise CustomerError("invalid_target", str(exc), "value") from None
    return target


def _field(kind: str) -> str:
    return {"category": "blocked_categories", "country": "blocked_countries"}.get(
        kind, "blocked_prefixes"
    )


def add_block(rules: RuleSet, account: Account, target: BlockTarget) -> Account:
    """The account with one more customer block (clause 9.5: free, effective at once)."""
    target = normalise_target(rules, target)
    if target.kind == "operator":
        raise CustomerError("invalid_target", "operator blocks are set by the operator", "kind")
    name = _field(target.kind)
    current: tuple[str, ...] = getattr(account, name)
    if target.value in current:
        return account
    return _replace(account, **{name: (*current, target.value)})


def _replace(account: Account, **changes: object) -> Account:
    import msgspec

    return msgspec.structs.replace(account, **changes)


def quote_unblock(
    rules: RuleSet, account: Account, target: BlockTarget, engine: Engine | None = None
) -> UnblockQuote:
    """Ask the rules engine whether ``target`` may be lifted for ``account``, and the fee."""
    target = normalise_target(rules, target)
    engine = engine or Engine.instance()
    if target.kind == "operator":
        block = rules.block_by_id[target.value]
        fact = LiftFact(
            target="operator",
            blocked=target.value not in account.lifted,
            liftable=block.liftable,
            fee_cents=block.fee_cents or 0,
        )
        rule: RuleRef | None = rules.ref("block", block.id)
    else:
        fact = LiftFact(
            target="customer",
            blocked=target.value in getattr(account, _field(target.kind)),
            customer_fee_cents=rules.blocks.customer.unblock_fee_cents,
        )
        rule = None
    v = engine.evaluate_lift(fact)
    return UnblockQuote(
        target=target, allowed=v.allowed, fee_cents=v.fee_cents, reason=v.reason, rule=rule
    )


def refuse(quote: UnblockQuote) -> CustomerError:
    """The error for a quote that does not allow the unblock."""
    if quote.reason == "not_liftable":
        where = f" ({quote.rule})" if quote.rule else ""
        return CustomerError(
            "not_liftable",
            f"operator block {quote.target.value!r}{where} cannot be lifted by customers",
            rule=quote.rule,
        )
    return CustomerError(
        "not_blocked", f"{quote.target.kind} {quote.target.value!r} is not blocked"
    )


def apply_unblock(account: Account, target: BlockTarget) -> Account:
    """The account with ``target`` lifted (a normalised target the quote allowed)."""
    if target.kind == "operator":
        return _replace(account, lifted=(*account.lifted, target.value))
    name = _field(target.kind)
    current: tuple[str, ...] = getattr(account, name)
    return _replace(account, **{name: tuple(v for v in current if v != target.value)})


def resolve_site(
    rules: RuleSet,
    address: str,
    municipality: str,
    area_code: str = "",
    bandwidth_kbps: int | None = None,
) -> Site:
    """A Site whose Ortsnetz and emergency area come from operator data (clauses 9.3, 10).

    The Ortsnetz is looked up by the municipality key in ``rules/ortsnetz.toml``; what the
    customer typed as ``area_code`` only chooses among the areas of a municipality that
    lies in several, and must be one of them.
    """
    code = area_code[1:] if area_code.startswith("0") else area_code
    areas = rules.ortsnetz_of.get(municipality, ())
    if not areas:
        raise CustomerError(
            "unknown_municipality",
            f"municipality key {municipality!r} is in no local network area of the "
            "operator's data (ortsnetz.toml): expected the 8-digit AGS of the site",
            "municipality",
        )
    if code and code not in areas:
        raise CustomerError(
            "invalid_site",
            f"area code 0{code} is not that of municipality {municipality} "
            f"({', '.join('0' + a for a in areas)}; operator data, ortsnetz.toml)",
            "area_code",
        )
    if not code:
        if len(areas) > 1:
            raise CustomerError(
                "invalid_site",
                f"municipality {municipality} lies in several local networks "
                f"({', '.join('0' + a for a in areas)}): name the site's area code",
                "area_code",
            )
        code = areas[0]
    area = next(
        (a.id for a in rules.emergency.area if municipality in a.municipalities),
        rules.emergency.default_area,
    )
    return Site(
        address=address,
        municipality=municipality,
        area_code=code,
        emergency_area=area,
        bandwidth_kbps=bandwidth_kbps,
    )


def move_site(account: Account, site: Site) -> Account:
    """Declare or move the site (clauses 9.3, 10).

    Inside the local network of the account's geographic numbers the move takes effect at
    once (emergency calls route to the new area). Outside it the move is refused: a
    geographic number may only be used inside its local network, so new numbers are needed
    (the operator's ``policy.state.lifecycle.relocate``). Numbers on order or being ported in
    count too: they could not be activated after such a move.
    """
    foreign = sorted(
        {
            f"+{h.first}" if h.first == h.last else f"+{h.first}..+{h.last}"
            for h in account.holdings
            if h.state in HELD and h.area_code and h.area_code != site.area_code
        }
    )
    if foreign:
        raise CustomerError(
            "move_outside_local_network",
            f"the site's local network 0{site.area_code} is not that of the geographic "
            f"numbers {', '.join(foreign)}: a move outside the local network needs new "
            "numbers, which the operator assigns (clause 10)",
            "municipality",
        )
    return _replace(account, site=site)
