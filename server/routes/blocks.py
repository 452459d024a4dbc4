"""Customer blocks, paid unblocks (Freischaltung) and the charge ledger (clause 9.5)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Annotated, Literal

from litestar import Router, delete, get, post
from litestar.di import Provide
from litestar.params import FromPath, HeaderParameter, JSONBody, QueryParameter

from policy import (
    Account,
    BlockTarget,
    CustomerError,
    RuleSet,
    UnblockQuote,
    add_block,
    apply_unblock,
    quote_unblock,
    refuse,
)
from server.auth import may_change_account, provide_account
from server.deps import AccountDep, CtxDep
from server.schemas import BlocksRead, ChargesPage, ChargeV1, UnblockV1

__all__ = ["CUSTOMER_UNBLOCK_RULE", "router"]

Kind = Literal["category", "country", "prefix", "operator"]
IdempotencyKey = Annotated[
    str,
    HeaderParameter(
        name="Idempotency-Key",
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Unique per intended unblock; a retry with the same key never charges "
        "twice (same key, other target: 422).",
    ),
]

#: Charges per page by default, and at most (a ledger grows without bound: clause 9.5).
DEFAULT_PAGE = 100
MAX_PAGE = 1000

CUSTOMER_UNBLOCK_RULE = "customer-unblock"
"""The ``rule`` of a charge for lifting the customer's own block (no operator rule)."""


@get("/blocks", sync_to_thread=False)
def list_blocks(account: AccountDep) -> BlocksRead:
    """The account's own blocks and the operator blocks it has lifted."""
    return BlocksRead.of(account)


@post("/blocks", guards=[may_change_account], sync_to_thread=True)
def create_block(account_id: FromPath[str], data: JSONBody[BlockTarget], ctx: CtxDep) -> BlocksRead:
    """Block a category, country or prefix: free of charge, effective at once (clause 9.5)."""
    rules = ctx.runtime.snapshot.rules
    account = ctx.store.update_account(account_id, lambda a: add_block(rules, a, data), ctx.now)
    return BlocksRead.of(account)


@get("/blocks/{kind:str}/{value:str}/unblock-quote", sync_to_thread=True)
def unblock_quote(
    account: AccountDep, kind: FromPath[Kind], value: FromPath[str], ctx: CtxDep
) -> UnblockQuote:
    """Whether the block may be lifted, and the fee that lifting it will be charged."""
    return quote_unblock(ctx.runtime.snapshot.rules, account, BlockTarget(kind, value))


def _guarded(
    rules: RuleSet, requested: BlockTarget, quoted: UnblockQuote
) -> Callable[[Account], Account]:
    """The store ``change`` of an unblock: quote again inside the transaction.

    The first quote was made on a read before the transaction; a concurrent unblock with
    another key (or a reload) may have changed the answer since. Asking again on the
    account the transaction holds means a target is lifted, and charged, at most once.
    """

    def change(account: Account) -> Account:
        quote = quote_unblock(rules, account, requested)
        if not quote.allowed:
            raise refuse(quote)
        if quote.fee_cents != quoted.fee_cents:
            raise CustomerError("quote_changed", "the fee changed meanwhile: quote again")
        return apply_unblock(account, quote.target)

    return change


@delete(
    "/blocks/{kind:str}/{value:str}",
    guards=[may_change_account],
    status_code=200,
    sync_to_thread=True,
)
def unblock(
    account: AccountDep,
    kind: FromPath[Kind],
    value: FromPath[str],
    idempotency_key: IdempotencyKey,
    ctx: CtxDep,
) -> UnblockV1:
    """Lift a block for its fee (charged once per Idempotency-Key; a retry replays)."""
    rules = ctx.runtime.snapshot.rules
    requested = BlockTarget(kind, value)
    quote = quote_unblock(rules, account, requested)  # 400/404 for a bad target
    target = quote.target  # normalised: prefixes as canonical digits
    # Not allowed may still be a retry of an unblock that succeeded (the target is lifted
    # now): the store answers a known key with the first outcome before calling change.
    rule = quote.rule.id if quote.rule else CUSTOMER_UNBLOCK_RULE
    request_hash = hashlib.sha256(f"{target.kind}\x00{target.value}".encode()).hexdigest()
    outcome = ctx.store.unblock(
        account.id,
        target,
        quote.fee_cents,
        rule,
        idempotency_key,
        request_hash,
        _guarded(rules, requested, quote),
        ctx.now,
    )
    return UnblockV1.of(outcome)


Limit = Annotated[
    int, QueryParameter(ge=1, le=MAX_PAGE, description=f"Charges per page (at most {MAX_PAGE})")
]
Since = Annotated[
    int,
    QueryParameter(ge=0, description="The `next` of the previous page; 0 for the first page"),
]


@get("/charges", sync_to_thread=False)
def list_charges(
    account: AccountDep, ctx: CtxDep, limit: Limit = DEFAULT_PAGE, since: Since = 0
) -> ChargesPage:
    """The account's ledger, oldest first, a page at a time (times ISO 8601, with currency)."""
    # One more than asked tells whether a next page exists without counting the ledger.
    rows = ctx.store.charges_page(account.id, since, limit + 1)
    page = rows[:limit]
    more = len(rows) > limit
    return ChargesPage(
        charges=[ChargeV1.of(c) for _, c in page], next=page[-1][0] if more and page else None
    )


router = Router(
    "/accounts/{account_id:str}",
    route_handlers=[list_blocks, create_block, unblock_quote, unblock, list_charges],
    dependencies={"account": Provide(provide_account, sync_to_thread=False)},
    tags=["blocks"],
)
