"""Test a number: the decision for one call of an account, with the chain of rules."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import get
from litestar.params import QueryParameter

from policy import Call, Explanation, explain
from server.auth import account_not_found, visible_account_id
from server.deps import CtxDep
from server.errors import FieldErrorV1, InputError

__all__ = ["decisions"]

Dial = Annotated[str, QueryParameter(min_length=1, max_length=128, description="Dial string")]
From = Annotated[str, QueryParameter(name="from", max_length=128, description="Calling number")]
AccountQuery = Annotated[
    str | None,
    QueryParameter(max_length=64, description="Account id (default: the key's; operators: one)"),
]


@get("/decisions", sync_to_thread=False)
def decisions(
    to: Dial, ctx: CtxDep, from_number: From = "", account: AccountQuery = None
) -> Explanation:
    """Decide a call ``from`` → ``to`` for the account and explain it (callpolicy explain)."""
    account_id = account or ctx.principal.account
    if account_id is None:
        raise InputError(
            "account: operators must name the account",
            [FieldErrorV1(key="account", source="query", message="required for operator keys")],
        )
    acc = ctx.store.get_account(visible_account_id(ctx.principal, account_id))
    if acc is None:
        raise account_not_found(account_id)
    snap = ctx.runtime.snapshot  # read once: a reload may swap it meanwhile
    e = explain(snap, Call(to=to, from_number=from_number), ctx.runtime.compiled(acc, snap))
    ctx.metrics.decided(e.decision)
    decision_id = ctx.decisions.record(
        e.decision, account=acc.id, dial=to, revision=snap.revision, now=ctx.now
    )
    return msgspec.structs.replace(e, decision_id=decision_id)
