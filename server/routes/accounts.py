"""Accounts, their numbers and their site (clauses 5.1, 9.2, 9.3, 10)."""

from __future__ import annotations

from litestar import Router, get, post, put
from litestar.di import Provide
from litestar.params import FromPath, JSONBody

from policy import Account, move_site, resolve_site
from server.auth import may_change_account, operator_only, provide_account
from server.deps import AccountDep, CtxDep
from server.schemas import (
    AccountCreate,
    AccountList,
    NumbersRead,
    NumbersWrite,
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
    """Create an account (operators); 409 if the id is taken."""
    return ctx.store.create_account(data.to_account(), ctx.now)


@get("/{account_id:str}", sync_to_thread=False)
def get_account(account: AccountDep) -> Account:
    """One account with its numbers, site and blocks."""
    return account


@get("/{account_id:str}/numbers", sync_to_thread=False)
def get_numbers(account: AccountDep) -> NumbersRead:
    """The account's numbers (canonical E.164 digits)."""
    return NumbersRead.of(account)


@put("/{account_id:str}/numbers", guards=[may_change_account], sync_to_thread=True)
def put_numbers(
    account_id: FromPath[str], data: JSONBody[NumbersWrite], ctx: CtxDep
) -> NumbersRead:
    """Replace the numbers and number blocks (and the main number if given)."""
    return NumbersRead.of(ctx.store.update_account(account_id, data.apply, ctx.now))


@get("/{account_id:str}/site", sync_to_thread=False)
def get_site(account: AccountDep) -> SiteRead:
    """The declared site (where emergency calls are routed from)."""
    return SiteRead(site=account.site, version=account.version)


@put("/{account_id:str}/site", guards=[may_change_account], sync_to_thread=True)
def put_site(account_id: FromPath[str], data: JSONBody[SiteWrite], ctx: CtxDep) -> SiteRead:
    """Declare or move the site; a move outside the local network is 409 (clause 10)."""
    rules = ctx.runtime.snapshot.rules
    site = resolve_site(rules, data.address, data.municipality, data.area_code)
    account = ctx.store.update_account(account_id, lambda a: move_site(a, site), ctx.now)
    return SiteRead(site=account.site, version=account.version)


router = Router(
    "/accounts",
    route_handlers=[
        list_accounts,
        create_account,
        get_account,
        get_numbers,
        put_numbers,
        get_site,
        put_site,
    ],
    dependencies={"account": Provide(provide_account, sync_to_thread=False)},
    tags=["accounts"],
)
