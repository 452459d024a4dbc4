"""Prometheus metrics of the API: ``GET /metrics`` (text exposition, unauthenticated like
``/health``: scrape it from the operator's network only).

What is counted: requests by method, route template and status, with a latency histogram;
decisions by verdict and reason; store errors; the running rules (revision, reloads of
this process, the follower's state). One registry per app (tests build many apps in one
process). With several uvicorn workers, ``python -m server serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before they start, and a scrape of any
worker adds up every worker's counters (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

from litestar import Request, Response, get
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric
from prometheus_client.registry import Collector

from policy import Decision, PolicyRuntime

from .follower import RulesFollower

__all__ = ["METRICS_STATE_KEY", "ApiMetrics", "MetricsMiddleware", "metrics"]

METRICS_STATE_KEY = "metrics"
"""Key of the ApiMetrics in the app's ``state``."""

#: Latency buckets (seconds): decisions take well under a millisecond, writes fsync.
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _Rules(Collector):
    """The running rules, read at scrape time (nothing to update on the request path)."""

    def __init__(self, runtime: PolicyRuntime, follower: RulesFollower) -> None:
        self._runtime = runtime
        self._follower = follower

    def collect(self) -> Iterator[Metric]:
        info = self._runtime.info
        yield InfoMetricFamily(
            "callpolicy_rules", "The rules this process serves", value={"revision": info.revision}
        )
        yield GaugeMetricFamily(
            "callpolicy_rules_version", "Loads of the rules by this process", value=info.version
        )
        yield GaugeMetricFamily(
            "callpolicy_rules_loaded_at_seconds", "When the rules were loaded", value=info.loaded_at
        )
        state, _ = self._follower.status
        follower = GaugeMetricFamily(
            "callpolicy_follower_state", "The change-feed follower's state (1: current)",
            labels=["state"],
        )  # fmt: skip
        for s in ("NOT_READY", "OK", "WARN", "ERROR"):
            follower.add_metric([s], 1.0 if s == state else 0.0)
        yield follower


class ApiMetrics:
    """The API's metrics, in a registry of their own."""

    def __init__(self, runtime: PolicyRuntime, follower: RulesFollower) -> None:
        self.multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "callpolicy_http_requests",
            "HTTP requests by method, route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "callpolicy_http_request_duration_seconds",
            "HTTP request latency by method and route",
            ["method", "route"],
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.decisions = Counter(
            "callpolicy_decisions",
            "Decisions made by the API (GET /v1/decisions) by verdict and reason",
            ["verdict", "reason"],
            registry=self.registry,
        )
        self.store_errors = Counter(
            "callpolicy_store_errors",
            "Requests answered 503 because the store was unreachable",
            registry=self.registry,
        )
        self._rules = _Rules(runtime, follower)
        self.registry.register(self._rules)

    def decided(self, decision: Decision) -> None:
        """Count one decision."""
        self.decisions.labels(decision.verdict, decision.reason).inc()

    def exposition(self) -> bytes:
        """The text exposition (every worker's counters in multiprocess mode)."""
        if not self.multiprocess:
            return generate_latest(self.registry)
        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
        merged.register(self._rules)  # this worker's rules (every worker serves the same)
        return generate_latest(merged)


class MetricsMiddleware:
    """ASGI wrapper counting every HTTP request by its route template (not its path: ids
    and numbers in paths would make a series per customer)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics, clock: Callable[[], float]) -> None:
        self.app = app
        self.metrics = metrics
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Serve one scope; HTTP requests are timed and counted."""
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        status = 0

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        start = self.clock()
        try:
            await self.app(scope, receive, sending)
        finally:
            route = _route(scope)
            method = scope.get("method", "")
            self.metrics.requests.labels(method, route, str(status)).inc()
            self.metrics.latency.labels(method, route).observe(self.clock() - start)


def _route(scope: Any) -> str:
    """The route template Litestar matched (``/v1/accounts/{account_id}``), or
    ``unmatched`` (404s, and requests refused before routing)."""
    template = scope.get("path_template")
    return template if isinstance(template, str) else "unmatched"


@get("/metrics", sync_to_thread=False, include_in_schema=False)
def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Prometheus text exposition of this API."""
    m: ApiMetrics = request.app.state[METRICS_STATE_KEY]
    return Response(m.exposition(), media_type=CONTENT_TYPE_LATEST)
