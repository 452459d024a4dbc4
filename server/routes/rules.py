"""The running rules and their reload (operators; Kamailio ``mtree.reload``)."""

from __future__ import annotations

import time
from typing import Annotated

from litestar import Router, get, post
from litestar.params import QueryParameter
from msgspec import Struct

from policy import NodeStatusV1, RuleErrors, RulesInfo, Store
from server.auth import operator_only
from server.deps import CtxDep

#: A node that has not reported for this long is shown as ``stale`` (it reports every 5 s).
STALE_SECONDS = 30.0


class NodeV1(Struct, frozen=True, kw_only=True):
    """One API or edge process and the rules it serves."""

    node: str
    kind: str
    revision: str
    current: bool
    """Whether it serves the revision this node serves."""
    state: str
    reload_error: str
    age_seconds: float
    """Seconds since its last report."""
    stale: bool
    """No report for STALE_SECONDS: stopped, or cut off from the store."""


class RulesStatusV1(Struct, frozen=True, kw_only=True):
    """The rules every node serves (issue 12: reload you can trust)."""

    revision: str
    nodes: list[NodeV1]


class ReloadV1(Struct, frozen=True, kw_only=True):
    """What a reload did here, and what the other nodes did with it."""

    rules: RulesInfo
    published_seq: int
    """The change-feed event that told the other nodes."""
    nodes: list[NodeV1]
    """Each live node after waiting up to ``wait`` s for it to report the new revision or
    its error (the same list as ``GET /v1/rules/status``)."""


Wait = Annotated[
    float,
    QueryParameter(ge=0, le=30, description="Seconds to wait for the nodes to report back"),
]


def _views(nodes: list[NodeStatusV1], revision: str, now: float) -> list[NodeV1]:
    return [
        NodeV1(
            node=n.node,
            kind=n.kind,
            revision=n.revision,
            current=n.revision == revision,
            state=n.state,
            reload_error=n.reload_error,
            age_seconds=round(max(0.0, now - n.seen_at), 3),
            stale=now - n.seen_at > STALE_SECONDS,
        )
        for n in nodes
    ]


def _settled(store: Store, revision: str, since: float, now: float) -> list[NodeStatusV1]:
    """The nodes, once every live one reported ``revision`` or an error after ``since``."""
    nodes = store.nodes()
    live = [n for n in nodes if now - n.seen_at <= STALE_SECONDS]
    if all(n.revision == revision or (n.reload_error and n.seen_at >= since) for n in live):
        return nodes
    return []


__all__ = ["router"]


@get("/status", sync_to_thread=False)
def rules_status(ctx: CtxDep) -> RulesStatusV1:
    """Every node (API and edge processes) with the revision it serves, its age and error."""
    revision = ctx.runtime.info.revision
    return RulesStatusV1(revision=revision, nodes=_views(ctx.store.nodes(), revision, ctx.now))


@get("/", sync_to_thread=False)
def rules_info(ctx: CtxDep) -> RulesInfo:
    """Version (reloads of this process), revision hash and load time of the running rules."""
    return ctx.runtime.info


@post("/reload", status_code=200, sync_to_thread=True)
def reload_rules(ctx: CtxDep, wait: Wait = 2.0) -> ReloadV1:
    """Validate, compile and swap in the rule files; 422 with every error, rules untouched.

    Then tell every node through the change feed and wait up to ``wait`` seconds for each
    live one to report the new revision, or the error that kept its old rules serving.
    """
    try:
        info = ctx.runtime.reload(ctx.now)  # RuleErrors -> 422 (errors.py); nothing swapped
    except RuleErrors as exc:
        ctx.follower.reloaded(str(exc))
        raise
    ctx.follower.reloaded()
    with ctx.follower.lock:  # the feed event tells the other processes (follower.py)
        seq = ctx.store.publish_rules_change(ctx.now).seq
        ctx.follower.published(seq)
    # Waiting is real time (the other nodes are processes); the answer's ages use ctx.now.
    deadline = time.monotonic() + wait
    nodes = _settled(ctx.store, info.revision, ctx.now, ctx.now)
    while not nodes and time.monotonic() < deadline:
        time.sleep(0.05)
        nodes = _settled(ctx.store, info.revision, ctx.now, ctx.now)
    return ReloadV1(
        rules=info,
        published_seq=seq,
        nodes=_views(nodes or ctx.store.nodes(), info.revision, ctx.now),
    )


router = Router(
    "/rules",
    route_handlers=[rules_info, rules_status, reload_rules],
    guards=[operator_only],
    tags=["rules"],
)
