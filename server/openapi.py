"""The OpenAPI document, completed from the routes themselves, and its offline docs page.

Litestar documents each operation's success and a 400 in its own error shape. ``document``
completes that, once, in ``create_app``, from what the app is made of, so the document
cannot drift from the routes:

- every status an operation answers, each with the real body (``ErrorV1``, a failed
  reload's ``RuleErrorsV1``, ``/ready``'s ``ReadyV1``) and a description: 401 and 503
  where ``ApiKeyAuth`` runs (it reads the store), 403/404 from the guards'
  ``server.auth.GuardDoc``, 400 where there is any parameter or body, 404 where the path
  names something, 409 on account writes, 413/415 with a JSON body, 422 with an
  ``Idempotency-Key``; ``Retry-After`` on 503, ``WWW-Authenticate`` on 401;
- the roles allowed, from the same guards: ``x-roles`` and a line of the description;
- the CSV variant of the published operator blocks.

A guard without a ``GuardDoc`` fails here, at boot, naming the route. The docs page
(Redoc, at ``/schema`` and ``/schema/redoc``) loads its script from ``server/docs_assets``
(``/schema/assets/``), never from a CDN: it works offline.
"""

from __future__ import annotations

import inspect
import pathlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from litestar import Litestar, Router
from litestar.datastructures import CacheControlHeader
from litestar.handlers import HTTPRouteHandler
from litestar.middleware import DefineMiddleware
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.plugins import JsonRenderPlugin, OpenAPIRenderPlugin, RedocRenderPlugin
from litestar.openapi.spec import (
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Reference,
    Schema,
)
from litestar.routes import HTTPRoute
from litestar.static_files import create_static_files_router
from litestar.utils.helpers import unwrap_partial

from policy import Role

from .auth import ApiKeyAuth, guard_doc
from .errors import ErrorV1, RuleErrorsV1, takes_json_body
from .routes.health import ready
from .routes.published import operator_blocks
from .routes.rules import reload_rules
from .schemas import ReadyV1

__all__ = [
    "ASSETS_DIR",
    "ASSETS_PATH",
    "REDOC_VERSION",
    "ROLES",
    "RoledOperation",
    "assets_router",
    "document",
    "render_plugins",
]

ASSETS_DIR = pathlib.Path(__file__).parent / "docs_assets"
"""The vendored docs scripts (see its README.md: versions and licenses)."""
ASSETS_PATH = "/schema/assets"
REDOC_VERSION = "2.5.2"

ROLES: tuple[Role, ...] = ("operator", "admin", "employee")
"""Every role of a key; admin and employee keys only ever reach their own account."""


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """Redoc from the package (no CDN, no web fonts, no remote favicon) and the JSON."""
    redoc = RedocRenderPlugin(
        js_url=f"{ASSETS_PATH}/redoc.standalone.js",
        google_fonts=False,
        path=["/redoc", "/"],
        favicon="",
    )
    return [redoc, JsonRenderPlugin()]


def assets_router() -> Router:
    """Serve ``ASSETS_DIR`` at ``ASSETS_PATH`` (outside the document and without a key)."""
    return create_static_files_router(
        path=ASSETS_PATH,
        directories=[ASSETS_DIR],
        name="docs_assets",
        include_in_schema=False,
        cache_control=CacheControlHeader(max_age=86_400, public=True),
    )


@dataclass
class RoledOperation(Operation):
    """An Operation with the roles allowed to call it (``x-roles``)."""

    x_roles: list[str] | None = field(default=None, metadata={"alias": "x-roles"})


@dataclass(frozen=True)
class _Answer:
    body: Any
    reasons: tuple[str, ...]


_WHY = {
    400: "A parameter or the body is invalid: `errors` names every wrong field "
    "(key, source, message).",
    401: "No key, or an unknown or revoked one (`Authorization: Bearer <key>` or `X-API-Key`).",
    404: "What the path names does not exist (another customer's account answers the same).",
    409: "Refused by the rules or the state of the account (`code`, `rule` say which).",
    413: "The body is larger than the server's limit (`max_body_bytes`).",
    415: "The body is not JSON: send `Content-Type: application/json` (or `+json`).",
    422: "The `Idempotency-Key` was used before with another request.",
    503: "The store is unreachable or busy: retry after `Retry-After` seconds.",
}

#: Answers of single routes that no general rule covers: (handler fn) -> status -> answer.
_SPECIAL: dict[Callable[..., Any], dict[int, _Answer]] = {
    reload_rules.fn: {
        422: _Answer(
            RuleErrorsV1,
            ("The rule files do not compile: every error located; the running rules stay.",),
        )
    },
    ready.fn: {
        503: _Answer(ReadyV1, ("Not ready: the store does not answer (`store` says why).",))
    },
}
#: Query parameters naming an account that must exist (404 otherwise).
_ACCOUNT_QUERIES = {"account"}
_ACCOUNT_QUERY_ROUTES = {"/v1/decisions"}
_CSV_ROUTES = {operator_blocks.fn: "text/csv"}


def _operations(app: Litestar) -> Iterator[tuple[str, str, HTTPRouteHandler, Any]]:
    """(path template, method, handler, kwargs model) of every documented operation."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for method, (handler, kwargs_model) in route.route_handler_map.items():
            if handler.resolve_include_in_schema() and method != "OPTIONS":
                yield route.path_format or "/", method, handler, kwargs_model


def _function(handler: HTTPRouteHandler) -> Callable[..., Any]:
    """The function a handler was made of (Litestar wraps ``sync_to_thread`` ones)."""
    fn: Callable[..., Any] = unwrap_partial(handler.fn)
    return getattr(fn, "func", fn)


def _keyed(handler: HTTPRouteHandler) -> bool:
    return any(
        (m.middleware if isinstance(m, DefineMiddleware) else m) is ApiKeyAuth
        for m in handler.resolve_middleware()
    )


class _Answers(dict[int, _Answer]):
    """Status -> answer; the reasons of one status add up."""

    def add(self, status: int, reason: str, body: Any = ErrorV1) -> None:
        """Add ``reason`` to the answer ``status``."""
        old = self.get(status)
        reasons = old.reasons if old else ()
        if reason not in reasons:
            self[status] = _Answer(body, (*reasons, reason))

    def default(self, status: int) -> None:
        """The general reason of ``status``, unless a more precise one is known (a guard's)."""
        if status not in self:
            self.add(status, _WHY[status])


def _guarded(path: str, method: str, handler: HTTPRouteHandler, answers: _Answers) -> list[str]:
    """The roles every guard of ``handler`` lets through; their answers added."""
    roles: list[str] = list(ROLES)
    for guard in [g for layer in handler.ownership_layers for g in (layer.guards or [])]:
        doc = guard_doc(guard)
        if doc is None:
            raise RuntimeError(
                f"server.openapi: {method} {path}: guard {getattr(guard, '__name__', guard)!r} "
                "has no roles: decorate it with server.auth.documented_guard"
            )
        roles = [r for r in roles if r in doc.roles]
        for status, reason in doc.answers.items():
            answers.add(status, reason)
    return roles


def _roles_and_answers(
    path: str, method: str, handler: HTTPRouteHandler, kwargs_model: Any
) -> tuple[list[str], _Answers]:
    """Who may call the operation, and everything it answers besides its success."""
    answers = _Answers()
    keyed = _keyed(handler)
    roles = _guarded(path, method, handler, answers) if keyed else []
    if keyed:
        answers.default(401)
        answers.default(503)
    body = takes_json_body(handler)
    queries = {p.field_alias for p in kwargs_model.expected_query_params}
    headers = {p.field_alias.lower() for p in kwargs_model.expected_header_params}
    if body or kwargs_model.expected_path_params or queries or headers:
        answers.default(400)
    if kwargs_model.expected_path_params or (
        path in _ACCOUNT_QUERY_ROUTES and queries & _ACCOUNT_QUERIES
    ):
        answers.default(404)
    if keyed and method in ("POST", "PUT", "DELETE") and path.startswith("/v1/accounts"):
        answers.default(409)
    if body:
        answers.default(413)
        answers.default(415)
    if "idempotency-key" in headers:
        answers.default(422)
    for status, answer in _SPECIAL.get(_function(handler), {}).items():
        for reason in answer.reasons:
            answers.add(status, reason, answer.body)
    return roles, answers


def _roles_line(roles: list[str], keyed: bool) -> str:
    if not keyed:
        return "**Roles**: anyone, no key needed."
    customers = [r for r in roles if r != "operator"]
    line = "**Roles**: " + ", ".join(roles) + "."
    if customers:
        line += f" ({' and '.join(customers)} keys: their own account only.)"
    return line


_RETRY_AFTER = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.INTEGER, minimum=1),
    description="Seconds to wait before retrying.",
    required=True,
)
_WWW_AUTHENTICATE = OpenAPIHeader(
    schema=Schema(type=OpenAPIType.STRING),
    description='The scheme to use: `Bearer realm="callpolicy"`.',
    required=True,
)
_ERROR_SCHEMAS = {f"#/components/schemas/{t.__name__}" for t in (ErrorV1, RuleErrorsV1, ReadyV1)}


def document(app: Litestar) -> OpenAPI:
    """Complete and return ``app``'s OpenAPI document (call once, before it is served)."""
    roles_of: dict[tuple[str, str], list[str]] = {}
    for path, method, handler, kwargs_model in _operations(app):
        roles, answers = _roles_and_answers(path, method, handler, kwargs_model)
        roles_of[(path, method)] = roles
        specs = {
            status: ResponseSpec(
                data_container=a.body, description=" ".join(a.reasons), generate_examples=False
            )
            for status, a in sorted(answers.items())
        }
        handler.responses = {**specs, **(handler.responses or {})}  # the handler's own win
        handler.operation_class = RoledOperation
        own = handler.description or inspect.cleandoc(_function(handler).__doc__ or "")
        handler.description = f"{own}\n\n{_roles_line(roles, _keyed(handler))}".strip()
    doc = app.openapi_schema
    for path, method, handler, _ in _operations(app):
        operation = getattr(doc.paths[path] if doc.paths else None, method.lower(), None)
        if not isinstance(operation, RoledOperation) or not operation.responses:
            raise RuntimeError(f"server.openapi: {method} {path} is not in the document")
        operation.x_roles = roles_of[(path, method)] or ["anyone"]
        _finish(method, path, operation, _CSV_ROUTES.get(_function(handler)))
    return doc


def _finish(method: str, path: str, operation: RoledOperation, csv: str | None) -> None:
    """Headers of 401/503, the CSV variant; check that no error has Litestar's body."""
    assert operation.responses is not None
    for status, response in operation.responses.items():
        if not isinstance(response, OpenAPIResponse):
            continue
        if status == "401":
            response.headers = {"WWW-Authenticate": _WWW_AUTHENTICATE}
        if status == "503" and _schema_ref(response) == "#/components/schemas/ErrorV1":
            response.headers = {"Retry-After": _RETRY_AFTER}
        if status.startswith("2") and csv and response.content:
            response.content[csv] = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))
        if status[0] in "45" and _schema_ref(response) not in _ERROR_SCHEMAS:
            raise RuntimeError(
                f"server.openapi: {method} {path} answers {status} with another body than "
                f"ErrorV1: {response.content}"
            )


def _schema_ref(response: OpenAPIResponse) -> str | None:
    media = (response.content or {}).get("application/json")
    schema = media.schema if media else None
    return schema.ref if isinstance(schema, Reference) else None
