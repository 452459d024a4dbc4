"""The operator's side of an account (clauses 1, 6.2, 7.2, 9.1-9.3, 10, 11).

Numbers are the operator's: only operator keys assign, port in, activate, port out, return,
split and relocate them and set the main number (NPN); customer keys get 403 with what
they may do instead. Each change is one store transaction with its audit lines and its
change-feed event, so edges stop presenting a number the moment it leaves ``active``. An
operator change made on the customer's behalf may carry a fee (clause 11): it is charged
once per ``Idempotency-Key`` in the same ledger as paid unblocks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Annotated, Any

import msgspec
from litestar import Request, Router, delete, get, post, put
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.exceptions import PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.params import FromPath, HeaderParameter, JSONBody

from policy import (
    Account,
    AuditEntry,
    ChargeRequest,
    CustomerError,
    Effect,
    SiteProof,
    activate,
    assign,
    canonical_range,
    clear_dialer_flag,
    held_overlap,
    port_in,
    port_out,
    presentable_since,
    relocate,
    resolve_site,
    resume,
    return_holding,
    return_part,
    set_npn,
    split,
    suspend,
)
from server.auth import documented_guard, principal_of, provide_account, visible_account_id
from server.deps import AccountDep, CtxDep
from server.errors import FieldErrorV1, InputError
from server.schemas import (
    ActivateWrite,
    HoldingWrite,
    NpnWrite,
    OperatorChange,
    OperatorOutcome,
    PresentableSince,
    RelocateWrite,
    ReturnPartWrite,
    SplitWrite,
    SuspendWrite,
)

__all__ = ["router"]

OptionalKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description="Makes the change safe to retry; required with a fee (charged once).",
    ),
]

_OWNED_BY_OPERATOR = (
    "numbers and the main number are assigned by the operator (clauses 9.1, 9.2): customer "
    "keys read them (GET /v1/accounts/{id}/numbers) and choose which active number each "
    "extension presents (PUT /v1/accounts/{id}/presentation)"
)


@documented_guard(
    ("operator",),
    {
        403: "A customer key on its own account: numbers are the operator's (clauses 9.1, 9.2).",
        404: "No such account, or another customer's (the same answer).",
    },
)
def operator_numbers(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: operators only; a customer key sees 404 for another account, else 403."""
    principal = principal_of(connection)
    if principal.role != "operator":
        visible_account_id(principal, str(connection.path_params["account_id"]))
        raise PermissionDeniedException(_OWNED_BY_OPERATOR)


def _operate(
    request: Request[Any, Any, Any],
    ctx: CtxDep,
    account_id: str,
    change: Callable[[Account], Effect],
    fee_cents: int,
    key: str | None,
    body: object,
) -> OperatorOutcome:
    """Store ``change`` (with its fee, once per key) and answer what it did."""
    charge = None
    if fee_cents and not key:
        raise InputError(
            "Idempotency-Key: required with a fee, so a retry never charges twice",
            [FieldErrorV1(key="Idempotency-Key", source="header", message="required with a fee")],
        )
    if key:
        what = f"{request.method} {request.url.path}"
        digest = hashlib.sha256(what.encode() + b"\0" + msgspec.json.encode(body)).hexdigest()
        charge = ChargeRequest(
            fee_cents=fee_cents,
            rule="operator-change",
            idempotency_key=key,
            request_hash=digest,
            kind="operator_change",
            description=what,
        )
    return OperatorOutcome.of(ctx.store.apply(account_id, change, ctx.now, charge))


_COMMON: dict[str, Any] = {"guards": [operator_numbers], "sync_to_thread": True}


@put("/numbers", status_code=403, **_COMMON)
def put_numbers(account: AccountDep) -> None:
    """Replacing numbers wholesale is no life-cycle transition (operators: use the routes)."""
    raise PermissionDeniedException(
        "numbers change only through their life cycle: POST …/numbers, …/{holding}/activate, "
        "…/port-out, …/return, …/split, …/return-part; the main number with PUT …/npn"
    )


@post("/numbers", **_COMMON)
def add_numbers(
    request: Request[Any, Any, Any],
    account_id: FromPath[str],
    data: JSONBody[HoldingWrite],
    ctx: CtxDep,
    idempotency_key: OptionalKey = None,
) -> OperatorOutcome:
    """Assign a number or block (``ordered``), or port it in (``porting``, clause 9.1)."""
    actor, now, port = ctx.principal.key_id, ctx.now, data.port

    def change(a: Account) -> Effect:
        if port is None:
            return assign(a, data.first, data.last, now, actor)
        return port_in(a, data.first, data.last, port.previous_provider, port.port_date, now, actor)

    # The number must not be another account's (a spoofing hole otherwise). Checked before
    # the transaction: two operators assigning one number at once is not guarded here.
    first, last = canonical_range(data.first, data.last)
    _not_elsewhere(ctx, account_id, first, last)
    return _operate(request, ctx, account_id, change, data.fee_cents, idempotency_key, data)


def _not_elsewhere(ctx: CtxDep, account_id: str, first: str, last: str) -> None:
    for other_id in ctx.store.list_accounts():
        other = ctx.store.get_account(other_id) if other_id != account_id else None
        if other is not None and held_overlap(other, first, last) is not None:
            raise CustomerError(
                "number_taken", f"+{first}..+{last} is held by another account", "first"
            )


@post("/numbers/{holding:str}/activate", **_COMMON)
def activate_numbers(
    request: Request[Any, Any, Any],
    account_id: FromPath[str],
    holding: FromPath[str],
    data: JSONBody[ActivateWrite],
    ctx: CtxDep,
    idempotency_key: OptionalKey = None,
) -> OperatorOutcome:
    """Activate (clause 6.2: billing starts); a geographic number needs a proof (9.3)."""
    actor, now = ctx.principal.key_id, ctx.now
    proof = data.proof
    recorded = (
        SiteProof(kind=proof.kind, reference=proof.reference, verified_by=actor, verified_at=now)
        if proof
        else None
    )
    return _operate(
        request,
        ctx,
        account_id,
        lambda a: activate(a, holding, now, actor, recorded),
        data.fee_cents,
        idempotency_key,
        data,
    )


def _simple(action: Callable[[Account, str, float, str], Effect]) -> Any:
    def handler(
        request: Request[Any, Any, Any],
        account_id: FromPath[str],
        holding: FromPath[str],
        data: JSONBody[OperatorChange],
        ctx: CtxDep,
        idempotency_key: OptionalKey = None,
    ) -> OperatorOutcome:
        actor, now = ctx.principal.key_id, ctx.now
        return _operate(
            request,
            ctx,
            account_id,
            lambda a: action(a, holding, now, actor),
            data.fee_cents,
            idempotency_key,
            data,
        )

    handler.__doc__ = action.__doc__
    return handler


port_out_numbers = post("/numbers/{holding:str}/port-out", **_COMMON)(_simple(port_out))
return_numbers = post("/numbers/{holding:str}/return", **_COMMON)(_simple(return_holding))


@post("/numbers/{holding:str}/split", **_COMMON)
def split_numbers(
    request: Request[Any, Any, Any],
    account_id: FromPath[str],
    holding: FromPath[str],
    data: JSONBody[SplitWrite],
    ctx: CtxDep,
    idempotency_key: OptionalKey = None,
) -> OperatorOutcome:
    """Cut a block into aligned parts of ``size`` (each keeps its state)."""
    actor, now = ctx.principal.key_id, ctx.now
    return _operate(
        request,
        ctx,
        account_id,
        lambda a: split(a, holding, data.size, now, actor),
        data.fee_cents,
        idempotency_key,
        data,
    )


@post("/numbers/{holding:str}/return-part", **_COMMON)
def return_part_of_numbers(
    request: Request[Any, Any, Any],
    account_id: FromPath[str],
    holding: FromPath[str],
    data: JSONBody[ReturnPartWrite],
    ctx: CtxDep,
    idempotency_key: OptionalKey = None,
) -> OperatorOutcome:
    """Return part of a block; the rest stays held as aligned parts."""
    actor, now = ctx.principal.key_id, ctx.now
    return _operate(
        request,
        ctx,
        account_id,
        lambda a: return_part(a, holding, data.first, data.last, now, actor),
        data.fee_cents,
        idempotency_key,
        data,
    )


@put("/npn", **_COMMON)
def put_npn(
    request: Request[Any, Any, Any],
    account_id: FromPath[str],
    data: JSONBody[NpnWrite],
    ctx: CtxDep,
    idempotency_key: OptionalKey = None,
) -> OperatorOutcome:
    """Set the main number (Stammrufnummer, clause 9.6): an active number of the account."""
    actor, now = ctx.principal.key_id, ctx.now
    return _operate(
        request,
        ctx,
        account_id,
        lambda a: set_npn(a, data.number, now, actor),
        data.fee_cents,
        idempotency_key,
        data,
    )


@post("/relocate", **_COMMON)
def relocate_account(
    request: Request[Any, Any, Any],
    account_id: FromPath[str],
    data: JSONBody[RelocateWrite],
    ctx: CtxDep,
    idempotency_key: OptionalKey = None,
) -> OperatorOutcome:
    """Move the site out of its Ortsnetz: order new numbers, return the old (clause 10)."""
    actor, now = ctx.principal.key_id, ctx.now
    w = data.site
    site = resolve_site(
        ctx.runtime.snapshot.rules, w.address, w.municipality, w.area_code, w.bandwidth_kbps
    )
    ranges = [(r.first, r.last) for r in data.numbers]
    for r in data.numbers:
        _not_elsewhere(ctx, account_id, *canonical_range(r.first, r.last))
    return _operate(
        request,
        ctx,
        account_id,
        lambda a: relocate(a, site, ranges, now, actor),
        data.fee_cents,
        idempotency_key,
        data,
    )


@post("/suspension", **_COMMON)
def suspend_account(
    account_id: FromPath[str], data: JSONBody[SuspendWrite], ctx: CtxDep
) -> OperatorOutcome:
    """Suspend outgoing calls (clause 1: network integrity); 110/112 are never affected."""
    actor, now = ctx.principal.key_id, ctx.now
    applied = ctx.store.apply(
        account_id, lambda a: suspend(a, data.ground, data.note, now, actor), now
    )
    return OperatorOutcome.of(applied)


@delete("/suspension", status_code=200, **_COMMON)
def resume_account(account_id: FromPath[str], ctx: CtxDep) -> OperatorOutcome:
    """Lift the suspension."""
    actor, now = ctx.principal.key_id, ctx.now
    return OperatorOutcome.of(ctx.store.apply(account_id, lambda a: resume(a, now, actor), now))


@delete("/dialer-flag", status_code=200, **_COMMON)
def clear_dialer(account_id: FromPath[str], ctx: CtxDep) -> OperatorOutcome:
    """Clear the power-dialer escalation the edge raised (clause 7.2)."""
    actor, now = ctx.principal.key_id, ctx.now
    applied = ctx.store.apply(account_id, lambda a: clear_dialer_flag(a, now, actor), now)
    return OperatorOutcome.of(applied)


@get("/audit", guards=[operator_numbers], sync_to_thread=False)
def get_audit(account: AccountDep, ctx: CtxDep) -> list[AuditEntry]:
    """The account's audit trail (who, when, from, to), oldest first."""
    return ctx.store.audit(account.id)


@get("/numbers/presentable/{number:str}", guards=[operator_numbers], sync_to_thread=False)
def get_presentable_since(
    account: AccountDep, number: FromPath[str], ctx: CtxDep
) -> PresentableSince:
    """Since when may the account present ``number``? With the history of its holdings."""
    digits = canonical_range(number)[0]
    active = next((h for h in account.active() if h.holds(digits)), None)
    ids = {h.id for h in account.holdings if h.holds(digits)}
    history = [e for e in ctx.store.audit(account.id) if e.subject in ids]
    return PresentableSince(
        number=digits,
        since=presentable_since(account, digits),
        holding=active.id if active else None,
        history=history,
    )


router = Router(
    "/accounts/{account_id:str}",
    route_handlers=[
        put_numbers,
        add_numbers,
        activate_numbers,
        port_out_numbers,
        return_numbers,
        split_numbers,
        return_part_of_numbers,
        put_npn,
        relocate_account,
        suspend_account,
        resume_account,
        clear_dialer,
        get_audit,
        get_presentable_since,
    ],
    dependencies={"account": Provide(provide_account, sync_to_thread=False)},
    tags=["numbers (operators)"],
)
