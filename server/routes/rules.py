"""The running rules and their reload (operators; Kamailio ``mtree.reload``)."""

from __future__ import annotations

from litestar import Router, get, post

from policy import RulesInfo
from server.auth import operator_only
from server.deps import CtxDep

__all__ = ["router"]


@get("/", sync_to_thread=False)
def rules_info(ctx: CtxDep) -> RulesInfo:
    """Version (reloads of this process), revision hash and load time of the running rules."""
    return ctx.runtime.info


@post("/reload", status_code=200, sync_to_thread=True)
def reload_rules(ctx: CtxDep) -> RulesInfo:
    """Validate, compile and swap in the rule files; 422 with every error, rules untouched."""
    info = ctx.runtime.reload(ctx.now)  # RuleErrors -> 422 (errors.py); nothing swapped
    with ctx.follower.lock:  # the feed event tells the other processes (follower.py)
        ctx.follower.published(ctx.store.publish_rules_change(ctx.now).seq)
    return info


router = Router(
    "/rules", route_handlers=[rules_info, reload_rules], guards=[operator_only], tags=["rules"]
)
