"""Accounts, their site and the numbers each extension presents (clauses 5.1, 9.3, 9.6, 10).

Numbers and the main number are the operator's (clauses 9.1, 9.2): their writes live in
``server/routes/numbers.py``, operators only. The one number choice a customer makes is
which of its active numbers each extension presents (``PUT …/presentation``).
"""

from __future__ import annotations

from litestar import Router, get, post, put
from litestar.di import Provide
from litestar.params import FromPath, JSONBody

from policy import Account, move_site, resolve_site, set_presentation
from server.auth import may_change_account, operator_only, provide_account
from server.deps import AccountDep, CtxDep
from server.schemas import (
    AccountCreate,
    AccountList,
    NumbersRead,
    PresentationWrite,
    SiteRead,
    SiteWrite,
)

__all__ = ["router"]

# Reads are point lookups and run on the event loop; writes commit with fsync (SQLite
# synchronous=FULL, Redis appendfsync always) and run in the thread pool.


@get("/", guards=[operator_only], sync_to_thread=False)
def list_accounts(ctx: CtxDep) -> AccountList:
    """Every account id (operators)."""
    return AccountList(accounts=ctx.store.list_accounts())


@post("/", guards=[operator_only], sync_to_thread=True)
def create_account(data: JSONBody[AccountCreate], ctx: CtxDep) -> Account:
    """Create an account without numbers (operators); 409 if the id is taken."""
    return ctx.store.create_account(data.to_account(), ctx.now)


@get("/{account_id:str}", sync_to_thread=False)
def get_account(account: AccountDep) -> Account:
    """One account with its numbers, site and blocks."""
    return account


@get("/{account_id:str}/numbers", sync_to_thread=False)
def get_numbers(account: AccountDep) -> NumbersRead:
    """The account's numbers in every state (with activation times, clause 6.2)."""
    return NumbersRead.of(account)


@put("/{account_id:str}/presentation", guards=[may_change_account], sync_to_thread=True)
def put_presentation(
    account_id: FromPath[str], data: JSONBody[PresentationWrite], ctx: CtxDep
) -> NumbersRead:
    """Which active own number each extension presents (clause 9.6; admins)."""
    actor = ctx.principal.key_id
    applied = ctx.store.apply(
        account_id, lambda a: set_presentation(a, data.extensions, ctx.now, actor), ctx.now
    )
    return NumbersRead.of(applied.account)


@get("/{account_id:str}/site", sync_to_thread=False)
def get_site(account: AccountDep) -> SiteRead:
    """The declared site (where emergency calls are routed from)."""
    return SiteRead(site=account.site, version=account.version)


@put("/{account_id:str}/site", guards=[may_change_account], sync_to_thread=True)
def put_site(account_id: FromPath[str], data: JSONBody[SiteWrite], ctx: CtxDep) -> SiteRead:
    """Declare or move the site; a move outside the Ortsnetz is 409 (clause 10)."""
    rules = ctx.runtime.snapshot.rules
    site = resolve_site(rules, data.address, data.municipality, data.area_code, data.bandwidth_kbps)
    account = ctx.store.update_account(account_id, lambda a: move_site(a, site), ctx.now)
    return SiteRead(site=account.site, version=account.version)


router = Router(
    "/accounts",
    route_handlers=[
        list_accounts,
        create_account,
        get_account,
        get_numbers,
        put_presentation,
        get_site,
        put_site,
    ],
    dependencies={"account": Provide(provide_account, sync_to_thread=False)},
    tags=["accounts"],
)
