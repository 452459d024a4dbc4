"""The operator's pages: find an account, suspend and resume it, assign and activate its
numbers with the Ortsnetz proof, set its main number, and see what rules each node serves.

The same policy functions as the operator API (``server/routes/numbers.py``), each one
store transaction with its audit lines (the actor is ``web:<login>``). Customers get 403
here, or 404 for an account that is not theirs (they never learn another one exists).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from litestar import Response, get, post
from litestar.params import FromPath, QueryParameter
from litestar.response import Redirect, Template

from policy import (
    Account,
    CustomerError,
    Effect,
    SiteProof,
    activate,
    assign,
    canonical_range,
    held_overlap,
    resume,
    set_npn,
    suspend,
)

from .account import GROUNDS, PROOF_KINDS, overview_page
from .pages import SECURITY_HEADERS, W, WDep, customer_error, page

__all__ = ["HANDLERS", "STALE_SECONDS"]

#: A node silent this long is shown as stale (nodes report every 5 s; as ``/v1/rules``).
STALE_SECONDS = 30.0
#: Accounts a search lists at most.
MAX_FOUND = 50

Query = Annotated[str, QueryParameter(name="q", max_length=64)]


@get("/operator", sync_to_thread=True)
def home(w: WDep, q: Query = "") -> Template:
    """Find an account by id or name; the rules status of every node."""
    w.operator()
    found: list[Account] = []
    needle = q.strip().lower()
    if needle:
        for account_id in w.store.list_accounts():
            account = w.store.get_account(account_id)
            if account and (needle in account.id or needle in account.name.lower()):
                found.append(account)
                if len(found) >= MAX_FOUND:
                    break
    revision = w.runtime.info.revision
    nodes = [
        {
            "n": n,
            "current": n.revision == revision,
            "stale": w.now - n.seen_at > STALE_SECONDS,
            "age": max(0, round(w.now - n.seen_at)),
        }
        for n in w.store.nodes()
    ]
    return page(
        w,
        "operator.html",
        w.t("title.operator"),
        q=q,
        searched=bool(needle),
        found=found,
        revision=revision,
        nodes=nodes,
    )


def _operate(
    w: W, account_id: str, change: Any, done: str, check: Callable[[], None] | None = None
) -> Response[Any]:
    """Apply an operator ``change`` (actor -> Account -> Effect) after ``check``; 303 to the
    overview, or the overview again with the refusal (400, 404, 409)."""
    account = w.account(account_id)  # 404 first: a customer must not learn it exists
    w.operator()
    try:
        if check is not None:
            check()
        w.store.apply(account_id, change(w.actor), w.now)
    except CustomerError as exc:
        status, code, text = customer_error(w, exc)
        return overview_page(w, account, status=status, error=(code, text))
    return Redirect(
        f"/web/accounts/{account_id}?done={done}", status_code=303, headers=SECURITY_HEADERS
    )


@post("/operator/accounts/{account_id:str}/suspend", sync_to_thread=True, status_code=200)
def suspend_account(w: WDep, account_id: FromPath[str]) -> Response[Any]:
    """Suspend outgoing calls (clause 1); 110/112 are never affected."""
    ground = w.field("ground", 40)
    note = w.field("note", 200)
    now = w.now

    def change(actor: str) -> Any:
        def effect(a: Account) -> Effect:
            if ground not in GROUNDS:
                raise CustomerError("invalid_target", f"ground: one of {', '.join(GROUNDS)}")
            return suspend(a, ground, note, now, actor)  # type: ignore[arg-type]

        return effect

    return _operate(w, account_id, change, "suspended")


@post("/operator/accounts/{account_id:str}/resume", sync_to_thread=True, status_code=200)
def resume_account(w: WDep, account_id: FromPath[str]) -> Response[Any]:
    """Lift the suspension."""
    now = w.now
    return _operate(w, account_id, lambda actor: lambda a: resume(a, now, actor), "resumed")


@post("/operator/accounts/{account_id:str}/numbers", sync_to_thread=True, status_code=200)
def assign_numbers(w: WDep, account_id: FromPath[str]) -> Response[Any]:
    """Assign a number or block (``ordered``, clause 9.1); not one held by another account."""
    first_in = w.field("first", 40)
    last_in = w.field("last", 40) or None
    now = w.now

    def check() -> None:
        # Before the transaction, as the API: two operators assigning one number at the
        # same moment are not guarded against here.
        _not_elsewhere(w, account_id, *canonical_range(first_in, last_in))

    return _operate(
        w,
        account_id,
        lambda actor: lambda a: assign(a, first_in, last_in, now, actor),
        "assigned",
        check,
    )


def _not_elsewhere(w: W, account_id: str, first: str, last: str) -> None:
    """The API's check: a number held by another account is not given to this one."""
    for other_id in w.store.list_accounts():
        other = w.store.get_account(other_id) if other_id != account_id else None
        if other is not None and held_overlap(other, first, last) is not None:
            raise CustomerError(
                "number_taken", f"+{first}..+{last} is held by another account", "first"
            )


@post(
    "/operator/accounts/{account_id:str}/numbers/{holding:str}/activate",
    sync_to_thread=True,
    status_code=200,
)
def activate_numbers(w: WDep, account_id: FromPath[str], holding: FromPath[str]) -> Response[Any]:
    """Activate (clause 6.2); a geographic number needs the Ortsnetz proof (clause 9.3)."""
    kind = w.field("proof_kind", 40)
    reference = w.field("proof_reference", 200)
    now = w.now

    def change(actor: str) -> Any:
        def effect(a: Account) -> Effect:
            proof = None
            if kind:
                if kind not in PROOF_KINDS:
                    raise CustomerError(
                        "invalid_proof", f"proof_kind: one of {', '.join(PROOF_KINDS)}"
                    )
                proof = SiteProof(
                    kind=kind,  # type: ignore[arg-type]
                    reference=reference,
                    verified_by=actor,
                    verified_at=now,
                )
            return activate(a, holding, now, actor, proof)

        return effect

    return _operate(w, account_id, change, "activated")


@post("/operator/accounts/{account_id:str}/npn", sync_to_thread=True, status_code=200)
def set_main_number(w: WDep, account_id: FromPath[str]) -> Response[Any]:
    """Set the main number (Stammrufnummer, clause 9.6): an active number of the account."""
    number = w.field("number", 40)
    now = w.now
    return _operate(
        w, account_id, lambda actor: lambda a: set_npn(a, number, now, actor), "npn_set"
    )


HANDLERS = [
    home,
    suspend_account,
    resume_account,
    assign_numbers,
    activate_numbers,
    set_main_number,
]
