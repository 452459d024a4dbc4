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

from policy.rules.model import AccountPolicy, NumberRange

__all__ = [
    "Account",
    "Applied",
    "AuditEntry",
    "BlockTarget",
    "ChangeEvent",
    "Charge",
    "ChargeRequest",
    "Effect",
    "Holding",
    "KeyInfo",
    "NodeStatusV1",
    "NumberState",
    "Porting",
    "Principal",
    "ProofKind",
    "Role",
    "Site",
    "SiteProof",
    "Suspension",
    "SuspensionGround",
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
    bandwidth_kbps: Annotated[int, Meta(ge=1, le=100_000_000)] | None = None
    """Access bandwidth the site declared for voice and video (clause 2: the customer plans
    it per site), kbit/s; the edge admits calls at this site up to it. None: not limited."""


NumberState = Literal["ordered", "porting", "active", "porting_out", "returned", "split"]
"""Life cycle of a number or block (clauses 6.2, 9.1, 9.2; ``policy.state.lifecycle``). Only
``active`` numbers are the account's to present; ``split`` marks a block an operator cut
into parts (each part a holding of its own, naming it as ``parent``)."""

ProofKind = Literal["gewerbeamt", "handelsregister", "telekom_bill", "lease"]
"""The documents clause 9.3 names as proof of the site: trade registration (Gewerbeamt),
commercial register extract, a current Telekom bill, a copy of the lease."""

SuspensionGround = Literal[
    "network_integrity", "security", "fraud_suspected", "unpaid", "customer_request"
]
"""Why an operator restricted an account's access (clause 1 names security and network
integrity; the others are the grounds operators use in practice)."""


class SiteProof(Struct, frozen=True, kw_only=True):
    """A verified proof that the site lies in a number's Ortsnetz (clause 9.3)."""

    kind: ProofKind
    reference: str
    """The document's reference (register number, bill number ...)."""
    verified_by: str
    """Who verified it (an operator's key id or name)."""
    verified_at: float
    municipality: str = ""
    """The municipality key (AGS) of the site the proof was made for."""


class Porting(Struct, frozen=True, kw_only=True):
    """A port-in from the previous provider (clause 9.1, § 59 TKG)."""

    previous_provider: str
    port_date: float
    """The confirmed port date (seconds): the number may be activated from then on."""


class Holding(Struct, frozen=True, kw_only=True):
    """A single number or a number block the operator gave the account (clauses 9.1, 9.2).

    ``first``..``last`` (canonical E.164 digits, inclusive) is fixed once assigned: a
    block's size cannot be increased later (clause 9.2).
    """

    id: str
    first: str
    last: str
    state: NumberState
    area_code: str = ""
    """Area code (without 0) of the Ortsnetz of a geographic number; '' otherwise."""
    ordered_at: float = 0.0
    activated_at: float | None = None
    """When the numbers became usable (clause 6.2: billing starts then)."""
    ended_at: float | None = None
    """When it was returned or ported out."""
    porting: Porting | None = None
    proof: SiteProof | None = None
    parent: str = ""
    """The id of the block this is a part of (after a split)."""

    @property
    def size(self) -> int:
        """How many numbers it holds."""
        return int(self.last) - int(self.first) + 1

    def holds(self, number: str) -> bool:
        """Whether canonical ``number`` is one of its numbers."""
        return len(number) == len(self.first) and self.first <= number <= self.last


class Suspension(Struct, frozen=True, kw_only=True):
    """An operator restricted the account's outgoing calls (clause 1); 110/112 go on."""

    ground: SuspensionGround
    note: str = ""
    since: float
    by: str
    """The operator key id that suspended it."""


class BlockTarget(Struct, frozen=True, forbid_unknown_fields=True):
    """What a customer blocks or unblocks (clause 9.5)."""

    kind: Literal["category", "country", "prefix", "operator"]
    """``operator`` names an operator default block (by id) the customer wants lifted."""
    value: str


class Account(Struct, frozen=True, kw_only=True):
    """One customer account and its policy state.

    Numbers are the operator's (clauses 9.1, 9.2): ``holdings`` and ``npn`` change only
    through ``policy.state.lifecycle``; the customer chooses ``presentation`` among its active
    numbers. (An older record's ``numbers``/``number_blocks`` fields, written when
    customers could set them, are not read: the operator assigns them again.)
    """

    id: AccountId
    name: str = ""
    npn: str = ""
    """Network Provided Number (Stammrufnummer), canonical E.164 digits; an active number
    of the account, or '' before the operator set one."""
    holdings: tuple[Holding, ...] = ()
    """The numbers and number blocks assigned to the account, in every state."""
    presentation: dict[str, str] = {}
    """Extension -> active own number presented for it (canonical), set by the customer."""
    suspension: Suspension | None = None
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

    def active(self) -> tuple[Holding, ...]:
        """The holdings whose numbers the account may use now."""
        return tuple(h for h in self.holdings if h.state == "active")

    def owns_active(self, number: str) -> bool:
        """Whether canonical ``number`` is an active number of the account."""
        return any(h.holds(number) for h in self.active())

    def policy(self) -> AccountPolicy:
        """The view decide() needs: only active numbers are the account's to present.

        The NPN is checked again here although every write keeps it active: a number the
        account does not hold now is never presented (§ 120 TKG), whatever a record says.
        """
        active = self.active()
        npn = self.npn if self.npn and self.owns_active(self.npn) else ""
        return AccountPolicy(
            account=self.id,
            npn="+" + npn if npn else "",
            area_code=self.site.area_code if self.site else "",
            numbers=tuple("+" + h.first for h in active if h.first == h.last),
            number_blocks=tuple(
                NumberRange("+" + h.first, "+" + h.last) for h in active if h.first != h.last
            ),
            blocked_categories=self.blocked_categories,
            blocked_countries=self.blocked_countries,
            blocked_prefixes=tuple("+" + p for p in self.blocked_prefixes),
            lifted=self.lifted,
            emergency_area=self.site.emergency_area if self.site else "",
            suspended=self.suspension is not None,
            suspension=_suspension_text(self.suspension),
            dialer_flag=self.dialer_flag,
            presentation={ext: "+" + n for ext, n in self.presentation.items()},
        )


def _suspension_text(s: Suspension | None) -> str:
    if s is None:
        return ""
    note = f" ({s.note})" if s.note else ""
    return f"suspended by the operator: {s.ground}{note}, since {s.since:.0f} by {s.by}"


class Charge(Struct, frozen=True, kw_only=True):
    """One entry of the append-only ledger: an unblock that was charged (clause 9.5), or a
    change the operator made on the customer's behalf for a fee (clause 11)."""

    id: str
    account: str
    target: BlockTarget | None = None
    """What was unblocked (``kind = "unblock"``)."""
    fee_cents: int
    rule: str
    """The rule the fee came from (block id, ``customer-unblock`` or the operator action)."""
    idempotency_key: str
    created_at: float
    kind: Literal["unblock", "operator_change"] = "unblock"
    description: str = ""
    """For an operator change: what was done (``number.assign 4930123450..4930123459``)."""
    currency: str = "EUR"
    """ISO 4217 code of ``fee_cents`` (the contract's prices are in euros)."""


class ChargeRequest(Struct, frozen=True, kw_only=True):
    """A charge a store mutation must record once per idempotency key (clauses 9.5, 11)."""

    fee_cents: int
    rule: str
    idempotency_key: str
    request_hash: str
    """Hash of what was asked: the same key with another request is a conflict."""
    target: BlockTarget | None = None
    kind: Literal["unblock", "operator_change"] = "unblock"
    description: str = ""


class AuditEntry(Struct, frozen=True, kw_only=True):
    """One line of an account's append-only audit trail (who, when, from, to)."""

    at: float
    actor: str
    """The key id of whoever made the change."""
    account: str
    action: str
    """``number.assign``, ``number.activate``, ``npn.set``, ``account.suspend`` ..."""
    subject: str = ""
    """The holding id (``4930123450-4930123459``), number or extension concerned."""
    first: str = ""
    last: str = ""
    before: str = ""
    """State before (a number's life-cycle state, the old NPN ...)."""
    after: str = ""
    detail: str = ""


class Effect(Struct, frozen=True, kw_only=True):
    """What a change of an account does: the new account and its audit lines."""

    account: Account
    audit: tuple[AuditEntry, ...] = ()
    event: str = ""
    """What the change-feed event says happened (``number.active`` ...)."""


class Applied(Struct, frozen=True, kw_only=True):
    """What a stored change did: the account after it, its charge, its audit lines, and
    whether it was a replay of an idempotency key used before."""

    account: Account
    charge: Charge | None = None
    audit: tuple[AuditEntry, ...] = ()
    replayed: bool = False


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
    detail: str = ""
    """What happened, for readers that care (``number.active``, ``account.suspend`` ...)."""


class Principal(Struct, frozen=True, kw_only=True):
    """Who calls the API: a role, bound to one account unless operator (clause 5.1)."""

    key_id: str
    role: Role
    account: str | None = None


class KeyInfo(Struct, frozen=True, kw_only=True):
    """What an operator sees of an API key: never the key, its hash neither."""

    key_id: str
    role: Role
    account: str | None = None
    created_at: float = 0.0
    revoked_at: float | None = None
    """When it was revoked (a revoked key authenticates nothing)."""
    last_used_at: float | None = None
    """Its last use, to within a minute (recorded when a process reads the key)."""


class NodeStatusV1(Struct, frozen=True, kw_only=True):
    """What one API or edge process reports of its rules (issue 12: reload you can trust)."""

    node: str
    kind: Literal["api", "edge"]
    revision: str
    """The rules revision it serves."""
    state: str
    """Its follower's state: OK, WARN (a reload failed, old rules serving), ERROR."""
    reload_error: str = ""
    """The last failed reload's located errors ('' after a successful one)."""
    reloaded_at: float = 0.0
    seen_at: float = 0.0
    """When it last reported (it reports every few seconds while alive)."""


account_encoder = msgspec.json.Encoder()
account_decoder = msgspec.json.Decoder(Account)
