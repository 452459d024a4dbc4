"""Blocks, paid unblocks (Freischaltung) and the charges (clause 9.5), in the browser.

A chargeable unblock takes two steps: the quote page shows the fee (asked of the rules
engine) and a confirm form whose button says that it costs money (as § 312j BGB wants a
"zahlungspflichtig" button); only its POST lifts the block. The form carries an
``idempotency_key`` made when the page was rendered, so a double click, a reload of the
result or the back button's resubmit sends the same key and the store replays the first
outcome: one charge, whatever the browser does. A fresh quote page (a new key) after the
block was lifted is refused as ``not_blocked``: nothing is charged twice either way.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import re
from typing import Annotated, Any

from litestar import Response, get, post
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect, Template

from policy import (
    Account,
    BlockTarget,
    CustomerError,
    IdempotencyConflict,
    add_block,
    apply_unblock,
    quote_unblock,
    refuse,
)

from .pages import SECURITY_HEADERS, W, WDep, WebError, customer_error, page
from .session import new_token

__all__ = ["CUSTOMER_UNBLOCK_RULE", "HANDLERS", "PAGE_SIZE"]

#: Charges per page (the API's default is 100; a page for people is shorter).
PAGE_SIZE = 20
MAX_PAGE = 1000
CUSTOMER_UNBLOCK_RULE = "customer-unblock"
"""The ``rule`` of a charge for lifting the customer's own block (as the API's)."""

_KINDS = ("category", "country", "prefix", "operator")
_KEY = re.compile(r"^[\x21-\x7e]{1,200}$")

Since = Annotated[int, QueryParameter(name="since", ge=0)]
Limit = Annotated[int, QueryParameter(name="limit", ge=1, le=MAX_PAGE)]
Kind = Annotated[str, QueryParameter(name="kind", max_length=20)]
Value = Annotated[str, QueryParameter(name="value", max_length=64)]


def _target(w: W, kind: str, value: str) -> BlockTarget:
    if kind not in _KINDS or not value:
        raise WebError(400, "invalid_target", w.t("err.invalid_target"))
    return BlockTarget(kind, value)  # type: ignore[arg-type]


def blocks_page(
    w: W,
    account: Account,
    *,
    status: int = 200,
    error: tuple[str, str] | None = None,
    notice: str = "",
) -> Template:
    """The account's own blocks, the operator's blocks and which of them it lifted."""
    rules = w.runtime.snapshot.rules
    operator_blocks = [
        {"block": b, "lifted": b.id in account.lifted, "rule": rules.ref("block", b.id)}
        for b in rules.blocks.block
    ]
    return page(
        w,
        "blocks.html",
        w.t("title.blocks"),
        status=status,
        error=error,
        notice=notice,
        nav_account=account.id,
        account=account,
        operator_blocks=operator_blocks,
        categories=[c for c in rules.plan.category if c.action == "classify"],
        may_change=w.me().role != "employee",
        form=w.form,
    )


@get("/accounts/{account_id:str}/blocks", sync_to_thread=False)
def blocks(w: WDep, account_id: FromPath[str], done: FromQuery[str] = "") -> Template:
    """The blocks page."""
    notice = w.t("done.block_added") if done == "block_added" else ""
    return blocks_page(w, w.account(account_id), notice=notice)


@post("/accounts/{account_id:str}/blocks", sync_to_thread=True, status_code=200)
def add(w: WDep, account_id: FromPath[str]) -> Response[Any]:
    """Block a category, country or prefix: free, at once (clause 9.5); 303 to the page."""
    account = w.may_change(account_id)
    kind = w.field("kind", 20)
    rules = w.runtime.snapshot.rules
    try:
        if kind not in ("category", "country", "prefix"):
            raise CustomerError(
                "invalid_target", f"kind: {kind!r} is none of category, country, prefix", "kind"
            )
        target = BlockTarget(kind, w.field("value", 64))  # type: ignore[arg-type]
        w.store.update_account(account_id, lambda a: add_block(rules, a, target), w.now)
    except CustomerError as exc:
        status, code, text = customer_error(w, exc)
        return blocks_page(w, account, status=status, error=(code, text))
    return Redirect(
        f"/web/accounts/{account_id}/blocks?done=block_added",
        status_code=303,
        headers=SECURITY_HEADERS,
    )


@get("/accounts/{account_id:str}/unblock", sync_to_thread=True)
def quote(w: WDep, account_id: FromPath[str], kind: Kind = "", value: Value = "") -> Template:
    """The fee of lifting a block, and the form that confirms it (admins, operators)."""
    account = w.may_change(account_id)
    q = quote_unblock(w.runtime.snapshot.rules, account, _target(w, kind, value))
    if not q.allowed:
        raise refuse(q)
    return page(
        w,
        "unblock.html",
        w.t("title.unblock"),
        nav_account=account.id,
        account=account,
        quote=q,
        idempotency_key="web-" + new_token(),
    )


@post("/accounts/{account_id:str}/unblock", sync_to_thread=True, status_code=200)
def unblock(w: WDep, account_id: FromPath[str]) -> Template:
    """Lift the block for the confirmed fee, charged once per ``idempotency_key``."""
    account = w.may_change(account_id)
    rules = w.runtime.snapshot.rules
    requested = _target(w, w.field("kind", 20), w.field("value", 64))
    key = w.field("idempotency_key", 200)
    confirmed = w.field("fee_cents", 12)
    if not _KEY.fullmatch(key) or not confirmed.isdigit():
        raise WebError(400, "invalid_form", w.t("err.invalid_form"))
    q = quote_unblock(rules, account, requested)  # 400/404 for a bad target
    target = q.target
    rule = q.rule.id if q.rule else CUSTOMER_UNBLOCK_RULE
    # The API's request hash: the same key from the API and from a page is one unblock.
    request_hash = hashlib.sha256(f"{target.kind}\x00{target.value}".encode()).hexdigest()
    fee = int(confirmed)

    def change(current: Account) -> Account:
        # Asked again inside the transaction (as the API's ``_guarded``): lifted and
        # charged at most once, and only for the fee the user confirmed.
        now_quote = quote_unblock(rules, current, requested)
        if not now_quote.allowed:
            raise refuse(now_quote)
        if now_quote.fee_cents != fee:
            raise CustomerError("quote_changed", "the fee changed meanwhile: quote again")
        return apply_unblock(current, now_quote.target)

    try:
        outcome = w.store.unblock(account.id, target, fee, rule, key, request_hash, change, w.now)
    except IdempotencyConflict:
        raise WebError(422, "idempotency_conflict", w.t("err.idempotency")) from None
    return page(
        w,
        "unblocked.html",
        w.t("title.unblocked"),
        nav_account=account.id,
        account=outcome.account,
        target=target,
        charge=outcome.charge,
        replayed=outcome.replayed,
    )


@get("/accounts/{account_id:str}/charges", sync_to_thread=False)
def charges(
    w: WDep, account_id: FromPath[str], since: Since = 0, limit: Limit = PAGE_SIZE
) -> Template:
    """The ledger, oldest first, a page at a time (``since``: the last position shown)."""
    account = w.account(account_id)
    rows = w.store.charges_page(account.id, since, limit + 1)
    shown = rows[:limit]
    more = len(rows) > limit
    return page(
        w,
        "charges.html",
        w.t("title.charges"),
        nav_account=account.id,
        account=account,
        rows=shown,
        since=since,
        limit=limit,
        next_since=shown[-1][0] if more and shown else None,
    )


CSV_FIELDS = ("id", "created_at", "kind", "target", "fee_cents", "currency", "rule", "description")


@get("/accounts/{account_id:str}/charges.csv", sync_to_thread=True)
def charges_csv(w: WDep, account_id: FromPath[str]) -> Response[str]:
    """The whole ledger as CSV with a header row (times ISO 8601, UTC; fees in cents)."""
    account = w.account(account_id)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for c in w.store.charges(account.id):
        target = f"{c.target.kind}:{c.target.value}" if c.target else ""
        at = _iso(c.created_at)
        writer.writerow(
            [c.id, at, c.kind, target, c.fee_cents, c.currency, c.rule, _cell(c.description)]
        )
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            **SECURITY_HEADERS,
            "Content-Disposition": f'attachment; filename="charges-{account.id}.csv"',
        },
    )


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat().replace("+00:00", "Z")


def _cell(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula (CSV injection)."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


HANDLERS = [blocks, add, quote, unblock, charges, charges_csv]
