"""Customer state: accounts, sites, blocks, charges and change events (one schema).

These Structs are stored by both store backends, carried in the change feed and served by
the API (``server/schemas.py`` adds only request/response views). Store records and
events are not ``forbid_unknown_fields``: an older reader must skip fields a newer writer
added (msgspec schema evolution). Timestamps are passed in, never read here.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from .model import AccountPolicy, NumberRange

__all__ = [
    "Account",
    "BlockTarget",
    "ChangeEvent",
    "Charge",
    "Principal",
    "Role",
    "Site",
    "UnblockOutcome",
]

AccountId = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]
Role = Literal["operator", "admin", "employee"]


class Site(Struct, frozen=True, kw_only=True):
    """The site the customer declared (clauses 9.3, 10): where emergency services go."""

    address: str
    municipality: str = ""
    """Municipality key (AGS, 8 digits) of the address: it selects the emergency area."""
    area_code: str
    """Area code of the site's local network (Ortsnetz), without the trunk 0: ``30``."""
    emergency_area: str
    """Emergency origin area (Notrufursprungsbereich) id of emergency.toml."""


class BlockTarget(Struct, frozen=True, forbid_unknown_fields=True):
    """What a customer blocks or unblocks (clause 9.5)."""

    kind: Literal["category", "country", "prefix", "operator"]
    """``operator`` names an operator default block (by id) the customer wants lifted."""
    value: str


class Account(Struct, frozen=True, kw_only=True):
    """One customer account and its policy state."""

    id: AccountId
    name: str = ""
    npn: str
    """Network Provided Number (Stammrufnummer), canonical E.164 digits."""
    numbers: tuple[str, ...] = ()
    """Further single numbers of the account, canonical."""
    number_blocks: tuple[NumberRange, ...] = ()
    """Number blocks (clause 9.2: fixed ranges), canonical first..last."""
    site: Site | None = None
    blocked_categories: tuple[str, ...] = ()
    blocked_countries: tuple[str, ...] = ()
    blocked_prefixes: tuple[str, ...] = ()
    """Canonical digit prefixes."""
    lifted: tuple[str, ...] = ()
    """Operator default blocks this account has paid to lift."""
    dialer_flag: Literal["none", "warn", "throttle", "suspend"] = "none"
    """Power-dialer escalation (clause 7.2) set by the edge; operators see and clear it.
    ``suspend`` stops outgoing non-emergency calls; ``throttle`` halves the limits."""
    version: int = 0
    """Bumped by the store on every change (optimistic concurrency, cache keys)."""

    def policy(self) -> AccountPolicy:
        """The view decide() needs."""
        return AccountPolicy(
            account=self.id,
            npn="+" + self.npn if self.npn else "",
            area_code=self.site.area_code if self.site else "",
            numbers=tuple("+" + n for n in self.numbers),
            number_blocks=tuple(
                NumberRange("+" + r.first, "+" + r.last) for r in self.number_blocks
            ),
            blocked_categories=self.blocked_categories,
            blocked_countries=self.blocked_countries,
            blocked_prefixes=tuple("+" + p for p in self.blocked_prefixes),
            lifted=self.lifted,
            emergency_area=self.site.emergency_area if self.site else "",
        )


class Charge(Struct, frozen=True, kw_only=True):
    """One entry of the append-only ledger: an unblock that was charged (clause 9.5)."""

    id: str
    account: str
    target: BlockTarget
    fee_cents: int
    rule: str
    """The rule the fee came from (block id or ``customer-unblock``)."""
    idempotency_key: str
    created_at: float


class UnblockOutcome(Struct, frozen=True, kw_only=True):
    """What an unblock did: the account after it, the charge, and whether it was a replay."""

    account: Account
    charge: Charge | None
    replayed: bool = False


class ChangeEvent(Struct, frozen=True, kw_only=True):
    """A change-feed event: this account (or the rules) changed; re-read it."""

    schema: int = 1
    seq: int
    """Position in the feed (store-assigned, increasing)."""
    account: str
    """Account id, or ``""`` for a rules change."""
    kind: Literal["account", "rules"] = "account"
    version: int = 0
    at: float = 0.0


class Principal(Struct, frozen=True, kw_only=True):
    """Who calls the API: a role, bound to one account unless operator (clause 5.1)."""

    key_id: str
    role: Role
    account: str | None = None


account_encoder = msgspec.json.Encoder()
account_decoder = msgspec.json.Decoder(Account)
