"""What customers may do with their account: block, lift (paid), declare and move sites.

Request-time logic for the API, kept out of the handlers. Whether a block may be lifted,
and at what fee, is asked of the rules engine (clause 9.5); the site rules follow clauses
9.3 and 10 and german-numbering.md (without the BNetzA local-network GIS data, a site's
area code must equal the area code of the account's geographic numbers).
"""

from __future__ import annotations

import phonenumbers
from msgspec import Struct

from .accounts import Account, BlockTarget, Site
from .engine import Engine, LiftFact
from .load import RuleSet
from .model import RuleRef
from .numbers import NumberError, canonical_prefix

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


class CustomerError(Exception):
    """A customer request the rules refuse; ``status`` is the HTTP status to answer with."""

    def __init__(
        self, status: int, code: str, message: str, field: str = "", rule: RuleRef | None = None
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.rule = rule
        super().__init__(message)


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
        raise CustomerError(400, "invalid_target", f"unknown category {value!r}", "value")
    if kind == "country" and value not in rules.country_codes:
        raise CustomerError(
            400, "invalid_target", f"expected a country calling code, got {value!r}", "value"
        )
    if kind == "operator" and value not in rules.block_by_id:
        raise CustomerError(404, "unknown_block", f"no operator block {value!r}", "value")
    if kind == "prefix":
        # Dialled form ("+4989", "089") or canonical E.164 digits as stored and shown
        # ("4989", "1212"): bare digits are canonical, so normalising is idempotent.
        # (A bare "118" would be ambiguous with NANP +1 18…: write "+49 118" or a category.)
        text = value if value.startswith(("+", "0")) else "+" + value
        try:
            return BlockTarget("prefix", canonical_prefix(text))
        except NumberError as exc:
            raise CustomerError(400, "invalid_target", str(exc), "value") from None
    return target


def _field(kind: str) -> str:
    return {"category": "blocked_categories", "country": "blocked_countries"}.get(
        kind, "blocked_prefixes"
    )


def add_block(rules: RuleSet, account: Account, target: BlockTarget) -> Account:
    """The account with one more customer block (clause 9.5: free, effective at once)."""
    target = normalise_target(rules, target)
    if target.kind == "operator":
        raise CustomerError(
            400, "invalid_target", "operator blocks are set by the operator", "kind"
        )
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
            409,
            "not_liftable",
            f"operator block {quote.target.value!r}{where} cannot be lifted by customers",
            rule=quote.rule,
        )
    return CustomerError(
        409, "not_blocked", f"{quote.target.kind} {quote.target.value!r} is not blocked"
    )


def apply_unblock(account: Account, target: BlockTarget) -> Account:
    """The account with ``target`` lifted (a normalised target the quote allowed)."""
    if target.kind == "operator":
        return _replace(account, lifted=(*account.lifted, target.value))
    name = _field(target.kind)
    current: tuple[str, ...] = getattr(account, name)
    return _replace(account, **{name: tuple(v for v in current if v != target.value)})


def geographic_area_code(number: str) -> str | None:
    """The area code (without 0) of a German geographic number, else None (load/API time)."""
    try:
        parsed = phonenumbers.parse("+" + number)
    except phonenumbers.NumberParseException:
        return None
    if parsed.country_code != 49:
        return None
    n = phonenumbers.length_of_geographical_area_code(parsed)
    return str(parsed.national_number)[:n] if n else None


def resolve_site(rules: RuleSet, address: str, municipality: str, area_code: str) -> Site:
    """A Site whose emergency area comes from its municipality (emergency.toml)."""
    code = area_code[1:] if area_code.startswith("0") else area_code
    if not (code.isascii() and code.isdigit() and 2 <= len(code) <= 5 and code[0] != "0"):
        raise CustomerError(
            400,
            "invalid_site",
            f"expected an area code of 2-5 digits, got {area_code!r}",
            "area_code",
        )
    area = next(
        (a.id for a in rules.emergency.area if municipality in a.municipalities),
        rules.emergency.default_area,
    )
    return Site(address=address, municipality=municipality, area_code=code, emergency_area=area)


def move_site(account: Account, site: Site) -> Account:
    """Declare or move the site (clauses 9.3, 10).

    Inside the local network of the account's geographic numbers the move takes effect at
    once (emergency calls route to the new area). Outside it the move is refused: a
    geographic number may only be used inside its local network, so new numbers are needed.
    """
    numbers = (account.npn, *account.numbers, *(r.first for r in account.number_blocks))
    foreign = sorted(
        {n for n in numbers if (ac := geographic_area_code(n)) is not None and ac != site.area_code}
    )
    if foreign:
        raise CustomerError(
            409,
            "move_outside_local_network",
            f"the site's local network 0{site.area_code} is not that of the geographic "
            f"numbers {', '.join('+' + n for n in foreign)}: a move outside the local network "
            "needs new numbers (clause 10)",
            "area_code",
        )
    return _replace(account, site=site)
