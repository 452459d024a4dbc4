"""``create_app(config)``: the whole application, wired and checked at start-up.

Construction does everything that can fail (open the store, compile the rules), so a
misconfigured server stops at boot with the key that is wrong, not at the first request
(Litestar checks handler signatures and dependencies at registration too). Dependencies
(``server.deps``): ``services`` everywhere; on the keyed ``/v1`` routes ``ctx`` with ``store``,
``runtime``, ``principal`` and ``now`` (the injected clock: handlers never read the time);
``account`` on the account routes.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from typing import Any

from litestar import Litestar, Request, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.logging import LoggingConfig
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, Reference, SecurityScheme

from policy import (
    DecisionLog,
    DecisionRecorder,
    EngineError,
    PolicyRuntime,
    RuleErrors,
    Store,
    open_store,
)

from .access import RequestLog
from .auth import KEYS_STATE_KEY, ApiKeyAuth, PrincipalCache, principal_of
from .config import ConfigError, ServerConfig
from .deps import Clock, Ctx, Services
from .errors import EXCEPTION_HANDLERS, json_body_check
from .follower import RulesFollower
from .metrics import METRICS_STATE_KEY, ApiMetrics, MetricsMiddleware, metrics
from .openapi import assets_router, document, render_plugins
from .routes import PUBLIC_V1_HANDLERS, V1_HANDLERS, health, ready
from .web import WEB_STATE_KEY, WebState, static_router, templates, web_router, with_web_pages

__all__ = ["API_VERSION", "Clock", "app_from_env", "create_app", "preflight"]

API_VERSION = "1.0.0"

_SECURITY_SCHEMES: dict[str, SecurityScheme | Reference] = {
    "bearer": SecurityScheme(
        type="http", scheme="bearer", description="Authorization: Bearer <API key>"
    ),
    "apiKey": SecurityScheme(
        type="apiKey", name="X-API-Key", security_scheme_in="header", description="API key"
    ),
}


def _open(config: ServerConfig) -> Store:
    try:
        return open_store(config.store_url)
    except Exception as exc:  # whatever the backend raises, name the key
        raise ConfigError("store_url", f"cannot open {config.store_url!r}: {exc}") from exc


def _compile(config: ServerConfig, clock: Clock) -> PolicyRuntime:
    try:
        return PolicyRuntime(config.rules_dir, clock())
    except (RuleErrors, EngineError) as exc:
        raise ConfigError("rules_dir", f"{config.rules_dir!r} does not compile: {exc}") from exc


def preflight(config: ServerConfig) -> str:
    """Open the store and compile the rules once, then let go (fail at boot, not in workers).

    Returns the rules revision.
    """
    store = _open(config)
    try:
        runtime = _compile(config, time.time)
        store.last_seq()
    finally:
        store.close()
    return runtime.snapshot.revision


def create_app(
    config: ServerConfig,
    *,
    store: Store | None = None,
    runtime: PolicyRuntime | None = None,
    clock: Clock = time.time,
) -> Litestar:
    """Build the app; ``store``/``runtime`` may be given (tests), else made from ``config``.

    A store opened here is closed on shutdown; a given one belongs to the caller.
    """
    owned = store is None
    the_store = _open(config) if store is None else store
    try:
        the_runtime = runtime if runtime is not None else _compile(config, clock)
    except BaseException:
        if owned:
            the_store.close()
        raise
    node = config.node or f"{socket.gethostname()}.{os.getpid()}"
    follower = RulesFollower(the_store, the_runtime, clock, node=node)
    api_metrics = ApiMetrics(the_runtime, follower)
    services = Services(store=the_store, runtime=the_runtime, follower=follower, clock=clock)
    # Workers are processes: each appends and rotates a file of its own.
    path = config.decision_log
    if path and config.workers > 1:
        path = f"{path}.{node}"
    log = DecisionLog(path) if path else None
    decisions = DecisionRecorder(node, clock(), log, config.decision_log_mask)

    def provide_services() -> Services:
        return services

    def provide_ctx(request: Request[Any, Any, Any]) -> Ctx:
        return Ctx(
            store=the_store,
            runtime=the_runtime,
            follower=follower,
            principal=principal_of(request),
            now=clock(),
            decisions=decisions,
            metrics=api_metrics,
        )

    v1 = Router(
        "/v1",
        route_handlers=V1_HANDLERS,
        middleware=[DefineMiddleware(ApiKeyAuth)],
        dependencies={"ctx": Provide(provide_ctx, sync_to_thread=False)},
        security=[{"bearer": []}, {"apiKey": []}],
    )
    # Public information under /v1 (clause 9.5: the operator block list): a router of its
    # own, outside ApiKeyAuth and without a security requirement, rather than an opt-out
    # on the authenticated router, whose security requirement the OpenAPI document would
    # still show (Litestar adds up the security of every layer).
    public_v1 = Router("/v1", route_handlers=PUBLIC_V1_HANDLERS)
    on_shutdown: list[Callable[[], object]] = [follower.stop, decisions.close]
    if owned:
        on_shutdown.append(the_store.close)
    app = Litestar(
        # The Telefonie-Konto's pages (clause 5.1), outside the OpenAPI document.
        route_handlers=[
            v1,
            public_v1,
            health,
            ready,
            metrics,
            assets_router(),
            web_router(),
            static_router(),
        ],
        template_config=templates(),
        dependencies={"services": Provide(provide_services, sync_to_thread=False)},
        # A /web URL that names no page: the pages' HTML 404 (/v1 keeps its JSON errors).
        exception_handlers=with_web_pages(EXCEPTION_HANDLERS),
        before_request=json_body_check(),  # 415 for a JSON body that is not, 400 if too deep
        openapi_config=OpenAPIConfig(
            title="callpolicy",
            version=API_VERSION,
            description="Call-authorization policy: accounts, blocks, paid unblocks "
            "(clause 9.5), sites (clauses 9.3, 10), decisions and the operator's rules.",
            components=Components(security_schemes=_SECURITY_SCHEMES),
            render_plugins=render_plugins(),  # the docs page's script from the package
        ),
        state=State(
            {
                KEYS_STATE_KEY: PrincipalCache(the_store, clock, config.key_cache_seconds),
                METRICS_STATE_KEY: api_metrics,
                WEB_STATE_KEY: WebState(the_store, the_runtime, clock, decisions),
            }
        ),
        on_startup=[follower.start],
        on_shutdown=on_shutdown,
        request_max_body_size=config.max_body_bytes,
        logging_config=LoggingConfig(
            # The process's handler (policy.configure_logging, JSON or text) is the root's:
            # Litestar's loggers propagate to it instead of printing in a format of their own.
            configure_root_logger=False,
            loggers={
                "callpolicy": {"level": "INFO", "propagate": True},
                "litestar": {"level": "INFO", "propagate": True},
            },
            log_exceptions="debug",
        ),
        debug=config.debug,
    )
    document(app)  # every status, error body and role of each operation (server/openapi.py)
    # Around the router, so 404s and the exception handler's 500s get an id and a log line.
    app.asgi_handler = RequestLog(
        MetricsMiddleware(app.asgi_handler, api_metrics, time.perf_counter), config.access_log
    )
    return app


def app_from_env() -> Litestar:
    """App factory for uvicorn's multi-process mode: the config from ``CALLPOLICY_*``."""
    logging.getLogger("callpolicy").setLevel(logging.INFO)
    return create_app(ServerConfig.from_env())
