"""API-only views: what a request may write and what a response reads.

Store records (``policy.accounts``) are the one schema of customer state and are served as
they are. The Write views here carry only what a client may set: the account id of a
change comes from the path, and ``version``, charge ids and timestamps are set by the
store, never by a body. Write views are ``forbid_unknown_fields``, so a body that tries to
set a server-owned field is a 400 naming it, not silently ignored.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta, Struct

from policy import Account, BlockTarget, NumberError, NumberRange, Site, canonical

from .errors import FieldErrorV1, InputError

__all__ = [
    "AccountCreate",
    "AccountList",
    "BlocksRead",
    "HealthV1",
    "NumberRangeWrite",
    "NumbersRead",
    "NumbersWrite",
    "ReadyV1",
    "SiteRead",
    "SiteWrite",
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
MAX_NUMBERS = 10_000


class NumberRangeWrite(Struct, frozen=True, forbid_unknown_fields=True):
    """A number block (clause 9.2) as written: first..last, inclusive."""

    first: Dial
    last: Dial


class _Numbers(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    numbers: Annotated[list[Dial], Meta(max_length=MAX_NUMBERS)] = []
    """Further single numbers of the account."""
    number_blocks: Annotated[list[NumberRangeWrite], Meta(max_length=MAX_NUMBERS)] = []
    """Number blocks of the account."""

    def canonical_numbers(self) -> tuple[tuple[str, ...], tuple[NumberRange, ...]]:
        """Numbers and blocks as canonical E.164 digits; every bad one a named 400."""
        errors: list[FieldErrorV1] = []
        numbers = tuple(_canonical(n, f"numbers[{i}]", errors) for i, n in enumerate(self.numbers))
        blocks = []
        for i, r in enumerate(self.number_blocks):
            first = _canonical(r.first, f"number_blocks[{i}].first", errors)
            last = _canonical(r.last, f"number_blocks[{i}].last", errors)
            if first and last and (len(first) != len(last) or first > last):
                errors.append(
                    FieldErrorV1(
                        key=f"number_blocks[{i}]",
                        source="body",
                        message=f"expected first <= last of one length, got {r.first}..{r.last}",
                    )
                )
            blocks.append(NumberRange(first, last))
        if errors:
            raise InputError(f"{errors[0].key}: {errors[0].message}", errors)
        return numbers, tuple(blocks)


def _canonical(dial: str, key: str, errors: list[FieldErrorV1]) -> str:
    try:
        return canonical(dial)
    except NumberError as exc:
        errors.append(FieldErrorV1(key=key, source="body", message=str(exc)))
        return ""


def _canonical_npn(dial: str) -> str:
    errors: list[FieldErrorV1] = []
    npn = _canonical(dial, "npn", errors)
    if errors:
        raise InputError(f"npn: {errors[0].message}", errors)
    return npn


class AccountCreate(_Numbers, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``POST /v1/accounts``: a new account (the operator chooses its id)."""

    id: AccountIdField
    name: Annotated[str, Meta(max_length=200)] = ""
    npn: Dial
    """Network Provided Number (Stammrufnummer, clause 9.6)."""

    def to_account(self) -> Account:
        """The Account to store (numbers canonical; version set by the store)."""
        npn = _canonical_npn(self.npn)
        numbers, blocks = self.canonical_numbers()
        return Account(id=self.id, name=self.name, npn=npn, numbers=numbers, number_blocks=blocks)


class NumbersWrite(_Numbers, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``PUT /v1/accounts/{id}/numbers``: replaces numbers and number blocks."""

    npn: Dial | None = None
    """A new main number, or null to keep it."""

    def apply(self, account: Account) -> Account:
        """``account`` with these numbers (a store ``change``)."""
        npn = account.npn if self.npn is None else _canonical_npn(self.npn)
        numbers, blocks = self.canonical_numbers()
        return msgspec.structs.replace(account, npn=npn, numbers=numbers, number_blocks=blocks)


class NumbersRead(Struct, frozen=True, kw_only=True):
    """An account's numbers, canonical E.164 digits."""

    npn: str
    numbers: tuple[str, ...]
    number_blocks: tuple[NumberRange, ...]
    version: int

    @classmethod
    def of(cls, account: Account) -> NumbersRead:
        """The view of ``account``."""
        return cls(
            npn=account.npn,
            numbers=account.numbers,
            number_blocks=account.number_blocks,
            version=account.version,
        )


class SiteWrite(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``PUT /v1/accounts/{id}/site``: declare or move the site (clauses 9.3, 10)."""

    address: Annotated[str, Meta(min_length=1, max_length=300)]
    municipality: Annotated[
        str, Meta(pattern=r"^([0-9]{8})?$", description="Municipality key (AGS), 8 digits")
    ] = ""
    area_code: Annotated[
        str, Meta(pattern=r"^0?[1-9][0-9]{1,4}$", description="Area code (Ortsnetz): 030 or 30")
    ]


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


class HealthV1(Struct, frozen=True, kw_only=True):
    """Liveness, and the state of the long-running parts."""

    status: Literal["ok"]
    rules_follower: str
    """``OK``, ``WARN: …`` or ``ERROR: …`` of the change-feed follower."""


class ReadyV1(Struct, frozen=True, kw_only=True):
    """Readiness: the rules are loaded and the store answers."""

    status: Literal["ready", "not_ready"]
    rules_revision: str
    store: str
    """``ok`` or what went wrong."""
