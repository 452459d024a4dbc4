"""API keys, operators only: list, create, revoke and rotate (clause 5.1: each user its own
credentials; a key that leaked must be stoppable without stopping the others).

A key is shown once, when created or rotated; the store keeps only its hash. Revocation
takes effect at once on this process and within ``key_cache_seconds`` on the others.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Router, delete, get, post
from litestar.params import FromPath, JSONBody, QueryParameter

from policy import KeyInfo
from server.auth import KEYS_STATE_KEY, PrincipalCache, add_key, operator_only, rotate_key
from server.deps import CtxDep
from server.errors import FieldErrorV1, InputError
from server.schemas import KeyWrite, NewKeyV1

__all__ = ["router"]

AccountFilter = Annotated[
    str | None, QueryParameter(max_length=64, description="Only the keys of this account")
]


@get("/", sync_to_thread=False)
def list_keys(ctx: CtxDep, account: AccountFilter = None) -> list[KeyInfo]:
    """Every key (of one account if asked), revoked ones too, with their last use."""
    return ctx.store.list_api_keys(account)


@post("/", sync_to_thread=True)
def create_key(data: JSONBody[KeyWrite], ctx: CtxDep) -> NewKeyV1:
    """A new key; ``key`` is in this answer only."""
    try:
        key, p = add_key(ctx.store, data.role, data.account, ctx.now)
    except ValueError as exc:  # an operator key bound to an account, a customer key unbound
        raise InputError(
            str(exc), [FieldErrorV1(key="account", source="body", message=str(exc))]
        ) from None
    return NewKeyV1(key=key, key_id=p.key_id, role=p.role, account=p.account)


@delete("/{key_id:str}", status_code=200, sync_to_thread=True)
def revoke_key(request: Request[Any, Any, Any], key_id: FromPath[str], ctx: CtxDep) -> KeyInfo:
    """Revoke a key (it authenticates nothing from then on)."""
    info = ctx.store.revoke_api_key(key_id, ctx.now)
    cache: PrincipalCache = request.app.state[KEYS_STATE_KEY]
    cache.forget(key_id)
    return info


@post("/{key_id:str}/rotate", sync_to_thread=True)
def rotate(request: Request[Any, Any, Any], key_id: FromPath[str], ctx: CtxDep) -> NewKeyV1:
    """A new key for the same role and account; the old one is revoked."""
    key, p = rotate_key(ctx.store, key_id, ctx.now)
    cache: PrincipalCache = request.app.state[KEYS_STATE_KEY]
    cache.forget(key_id)
    return NewKeyV1(key=key, key_id=p.key_id, role=p.role, account=p.account)


router = Router(
    "/keys",
    route_handlers=[list_keys, create_key, revoke_key, rotate],
    guards=[operator_only],
    tags=["keys (operators)"],
)
