"""API-only views: what a request may write and what a response reads.

Store records (``policy.state.accounts``) are the one schema of customer state and are served as
they are. The Write views here carry only what a client may set: the account id of a
change comes from the path, and ``version``, charge ids and timestamps are set by the
store, never by a body. Write views are ``forbid_unknown_fields``, so a body that tries to
set a server-owned field is a 400 naming it, not silently ignored.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

from policy import (
    Account,
    Applied,
    AuditEntry,
    BlockTarget,
    Charge,
    Holding,
    ProofKind,
    Site,
    SuspensionGround,
    UnblockOutcome,
)

__all__ = [
    "AccountCreate",
    "AccountList",
    "ActivateWrite",
    "BlocksRead",
    "ChargeV1",
    "ChargesPage",
    "HealthV1",
    "HoldingWrite",
    "KeyWrite",
    "NewKeyV1",
    "NpnWrite",
    "NumbersRead",
    "OperatorChange",
    "OperatorOutcome",
    "PortWrite",
    "PresentableSince",
    "PresentationWrite",
    "ProofWrite",
    "RangeWrite",
    "ReadyV1",
    "RelocateWrite",
    "ReturnPartWrite",
    "SiteRead",
    "SiteWrite",
    "SplitWrite",
    "SuspendWrite",
    "UnblockV1",
    "iso8601",
]

AccountIdField = Annotated[
    str,
    Meta(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$",
        description="Account id: lower-case letters, digits, '_' and '-', at most 64.",
    ),
]
Dial = Annotated[
    str,
    Meta(
        min_length=1,
        max_length=64,
        description="A phone number, international (+49 30 …, 0049…) or national (030 …).",
    ),
]


class AccountCreate(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/accounts``: a new account (operators choose its id).

    It starts without numbers: the operator assigns or ports them in and activates them
    through their life cycle (``/numbers``), then sets the main number (``/npn``).
    """

    id: AccountIdField
    name: Annotated[str, Meta(max_length=200)] = ""

    def to_account(self) -> Account:
        """The Account to store (version set by the store)."""
        return Account(id=self.id, name=self.name)


class NumbersRead(Struct, frozen=True, kw_only=True):
    """An account's numbers in every state, its main number and what each extension shows."""

    npn: str
    holdings: tuple[Holding, ...]
    presentation: dict[str, str]
    version: int

    @classmethod
    def of(cls, account: Account) -> NumbersRead:
        """The view of ``account``."""
        return cls(
            npn=account.npn,
            holdings=account.holdings,
            presentation=account.presentation,
            version=account.version,
        )


Fee = Annotated[
    int,
    Meta(
        ge=0,
        le=10_000_000,
        description="A fee for an operator change made on the customer's behalf (clause 11), "
        "cents; charged once per Idempotency-Key.",
    ),
]


class PortWrite(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A port-in (clause 9.1): the previous provider and the confirmed port date."""

    previous_provider: Annotated[str, Meta(min_length=1, max_length=200)]
    port_date: Annotated[float, Meta(ge=0, description="Seconds since the epoch")]


class HoldingWrite(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/accounts/{id}/numbers`` (operators): assign a number or block, or port it in."""

    first: Dial
    last: Dial | None = None
    """The last number of a block (10, 100, 1,000 or 10,000 numbers, aligned); none: one."""
    port: PortWrite | None = None
    """Given: a port-in (state ``porting``); else a new assignment (state ``ordered``)."""
    fee_cents: Fee = 0


class ProofWrite(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The proof of the site the operator verified (clause 9.3)."""

    kind: ProofKind
    reference: Annotated[str, Meta(min_length=1, max_length=200)]


class ActivateWrite(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST …/numbers/{holding}/activate`` (operators)."""

    proof: ProofWrite | None = None
    """Needed for a geographic number unless recorded before."""
    fee_cents: Fee = 0


class OperatorChange(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The body of an operator change that takes nothing but an optional fee."""

    fee_cents: Fee = 0


class SplitWrite(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST …/numbers/{holding}/split`` (operators): cut a block into aligned parts."""

    size: Annotated[int, Meta(ge=1, le=10_000)]
    fee_cents: Fee = 0


class RangeWrite(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A number or an aligned part of a block."""

    first: Dial
    last: Dial | None = None


class ReturnPartWrite(RangeWrite, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST …/numbers/{holding}/return-part`` (operators)."""

    fee_cents: Fee = 0


class NpnWrite(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``PUT /v1/accounts/{id}/npn`` (operators): the main number, an active own number."""

    number: Dial
    fee_cents: Fee = 0


class SuspendWrite(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/accounts/{id}/suspension`` (operators, clause 1)."""

    ground: SuspensionGround
    note: Annotated[str, Meta(max_length=500)] = ""


class PresentationWrite(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``PUT /v1/accounts/{id}/presentation``: which active own number each extension shows."""

    extensions: Annotated[
        dict[Annotated[str, Meta(min_length=1, max_length=64)], Dial], Meta(max_length=10_000)
    ]


class SiteWrite(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``PUT /v1/accounts/{id}/site``: declare or move the site (clauses 9.3, 10).

    The site's Ortsnetz is derived from its municipality key (operator data); an area code
    is needed only where the municipality lies in several local networks.
    """

    address: Annotated[str, Meta(min_length=1, max_length=300)]
    municipality: Annotated[
        str, Meta(pattern=r"^[0-9]{8}$", description="Municipality key (AGS), 8 digits")
    ]
    area_code: Annotated[
        str,
        Meta(
            pattern=r"^(0?[1-9][0-9]{1,4})?$",
            description="Area code (Ortsnetz, 030 or 30) where the municipality has several",
        ),
    ] = ""
    bandwidth_kbps: Annotated[int, Meta(ge=1, le=100_000_000)] | None = None
    """Access bandwidth of the site for voice and video (clause 2), kbit/s."""


class RelocateWrite(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/accounts/{id}/relocate`` (operators, clause 10): a move out of the Ortsnetz
    with the new numbers to order; the old area's geographic numbers are returned."""

    site: SiteWrite
    numbers: Annotated[list[RangeWrite], Meta(max_length=100)] = []
    fee_cents: Fee = 0


class PresentableSince(Struct, frozen=True, kw_only=True):
    """Since when the account may present a number (None: it may not now)."""

    number: str
    since: float | None
    holding: str | None
    history: list[AuditEntry]
    """The audit lines of the holdings that ever held the number."""


class SiteRead(Struct, frozen=True, kw_only=True):
    """The declared site (null before one was declared)."""

    site: Site | None
    version: int


class BlocksRead(Struct, frozen=True, kw_only=True):
    """The account's own blocks and the operator blocks it has paid to lift (clause 9.5)."""

    blocks: list[BlockTarget]
    lifted: list[str]
    """Ids of operator default blocks lifted for this account."""
    version: int

    @classmethod
    def of(cls, account: Account) -> BlocksRead:
        """The view of ``account``."""
        blocks = [
            *(BlockTarget("category", v) for v in account.blocked_categories),
            *(BlockTarget("country", v) for v in account.blocked_countries),
            *(BlockTarget("prefix", v) for v in account.blocked_prefixes),
        ]
        return cls(blocks=blocks, lifted=list(account.lifted), version=account.version)


class AccountList(Struct, frozen=True, kw_only=True):
    """Account ids, sorted."""

    accounts: list[str]


class HealthV1(Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Liveness, and the state of the long-running parts (the process serves either way)."""

    status: Literal["ok", "degraded"]
    """``ok`` only when every part is ``OK``; else ``degraded``, the parts named."""
    rules_follower: str
    """``OK``, ``WARN: …`` or ``ERROR: …`` of the change-feed follower (it reads the store:
    ``ERROR: change feed unreadable`` while the store is down)."""
    degraded: list[str] = []
    """The parts that are not ``OK`` (``rules_follower``); left out when there are none."""


class ReadyV1(Struct, frozen=True, kw_only=True):
    """Readiness: the rules are loaded and the store answers."""

    status: Literal["ready", "not_ready"]
    rules_revision: str
    store: str
    """``ok`` or what went wrong."""


class OperatorOutcome(Struct, frozen=True, kw_only=True):
    """What an operator change did: the numbers after it, its charge (clause 11), its audit
    lines, and whether it replayed an Idempotency-Key used before."""

    numbers: NumbersRead
    charge: ChargeV1 | None
    audit: tuple[AuditEntry, ...]
    replayed: bool

    @classmethod
    def of(cls, applied: Applied) -> OperatorOutcome:
        """The view of a stored change."""
        return cls(
            numbers=NumbersRead.of(applied.account),
            charge=ChargeV1.of(applied.charge) if applied.charge else None,
            audit=applied.audit,
            replayed=applied.replayed,
        )


def iso8601(seconds: float) -> str:
    """``2026-01-01T00:00:00Z``: a time as clients read it (RFC 3339, UTC)."""
    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.isoformat(
        timespec="seconds" if seconds == int(seconds) else "milliseconds"
    ).replace("+00:00", "Z")


class ChargeV1(Struct, frozen=True, kw_only=True):
    """One charge of the ledger as the API shows it (clauses 9.5, 11)."""

    id: str
    account: str
    kind: Literal["unblock", "operator_change"]
    target: BlockTarget | None
    """What was unblocked (``kind = "unblock"``)."""
    description: str
    fee_cents: int
    currency: str
    """ISO 4217 currency of ``fee_cents``."""
    rule: str
    idempotency_key: str
    created_at: str
    """When it was charged, ISO 8601 (UTC)."""

    @classmethod
    def of(cls, c: Charge) -> ChargeV1:
        """The view of a ledger entry."""
        return cls(
            id=c.id,
            account=c.account,
            kind=c.kind,
            target=c.target,
            description=c.description,
            fee_cents=c.fee_cents,
            currency=c.currency,
            rule=c.rule,
            idempotency_key=c.idempotency_key,
            created_at=iso8601(c.created_at),
        )


class ChargesPage(Struct, frozen=True, kw_only=True):
    """A page of the ledger, oldest first; ``next`` is the ``since`` of the next page."""

    charges: list[ChargeV1]
    next: int | None
    """Pass as ``since`` to read on; null on the last page."""


class KeyWrite(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/keys`` (operators): a new key for a role (bound to an account unless
    operator, clause 5.1)."""

    role: Literal["operator", "admin", "employee"]
    account: AccountIdField | None = None


class NewKeyV1(Struct, frozen=True, kw_only=True):
    """A key just created: ``key`` is shown this once (only its hash is kept)."""

    key: str
    key_id: str
    role: str
    account: str | None


class UnblockV1(Struct, frozen=True, kw_only=True):
    """What an unblock did: the account after it, its charge, and whether it replayed an
    Idempotency-Key used before (then nothing was charged again)."""

    account: Account
    charge: ChargeV1 | None
    replayed: bool

    @classmethod
    def of(cls, outcome: UnblockOutcome) -> UnblockV1:
        """The view of a stored unblock."""
        charge = ChargeV1.of(outcome.charge) if outcome.charge else None
        return cls(account=outcome.account, charge=charge, replayed=outcome.replayed)
