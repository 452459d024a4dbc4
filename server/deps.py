"""What handlers are given: ``ctx`` under ``/v1``, ``services`` elsewhere, and ``account``.

``ctx`` carries the four things a ``/v1`` handler works with: ``store``, ``runtime`` (the
running rules), ``principal`` (who calls) and ``now`` (the injected clock's time for this
request: handlers never read the time), plus the change-feed ``follower``. They come as
ONE dependency on purpose: Litestar resolves sibling dependencies concurrently, one anyio
task each, and three of them cost about 60 µs per request, measured on this machine,
more than the whole policy work of a decision (about 17 µs: key and account lookups,
explain). One dependency, or a chain, is resolved inline. ``account`` depends on ``ctx``
and runs after it.

Injected values are the server's own objects, not client input, so Litestar does not
validate them (``SkipValidation``): ``Store`` is a Protocol that ``isinstance`` cannot
check, and checking our own objects per request would only cost time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from litestar.di import NamedDependency
from litestar.params import SkipValidation

from policy import Account, DecisionRecorder, PolicyRuntime, Principal, Store

from .follower import RulesFollower
from .metrics import ApiMetrics

__all__ = ["AccountDep", "Clock", "Ctx", "CtxDep", "Services", "ServicesDep"]

Clock = Callable[[], float]
"""Seconds since the epoch; injected so tests can pin time."""


@dataclass(frozen=True, slots=True)
class Services:
    """The long-lived parts of one server process."""

    store: Store
    """The customer-state store."""
    runtime: PolicyRuntime
    """The running rules (read ``.snapshot`` once per request: a reload may swap it)."""
    follower: RulesFollower
    """The change-feed follower of this process."""
    clock: Clock
    """The injected clock."""


@dataclass(frozen=True, slots=True)
class Ctx:
    """One authenticated request: the services, who calls, and the request's time."""

    store: Store
    runtime: PolicyRuntime
    follower: RulesFollower
    principal: Principal
    """Who is calling (set by ``server.auth.ApiKeyAuth``)."""
    now: float
    """The request's time from the injected clock (seconds since the epoch)."""
    decisions: DecisionRecorder
    """Decision ids, and the decision log when one is configured."""
    metrics: ApiMetrics
    """The API's Prometheus metrics."""


ServicesDep = NamedDependency[SkipValidation[Services]]
"""Dependency ``services`` (every route)."""
CtxDep = NamedDependency[SkipValidation[Ctx]]
"""Dependency ``ctx`` (``/v1`` routes)."""
AccountDep = NamedDependency[SkipValidation[Account]]
"""Dependency ``account``: the path's account, existing and visible to the caller."""
