"""Every error the API answers, in one shape (OPA ``ErrorV1``; Litestar exception handlers).

- client input (bad JSON, wrong type, missing header, a number that is not one): 400
  ``{code, message, errors: [{key, source, message}]}`` naming each field;
- refusals of the rules (policy ``CustomerError``): its status, ``{code, message, rule}``;
- authentication 401, permission 403, not found 404, conflict 409, idempotency 422;
- a reload with broken rule files: 422, every error located ``{code, file, line, path,
  found, expected}``;
- a JSON body sent as anything but ``application/json`` (or ``+json``): 415; JSON nested
  deeper than the decoder goes: 400 (``json_body_check``, the app's before-request hook);
- the store unreachable or busy (``StoreUnavailable``): 503 with ``Retry-After``;
- anything else is a fault of server state: 500, logged with its traceback, no details out.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.enums import RequestEncodingType
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.handlers import HTTPRouteHandler
from litestar.params import BodyKwarg
from litestar.types import ExceptionHandlersMap

from policy import (
    AccountExists,
    AccountNotFound,
    CustomerError,
    EngineError,
    IdempotencyConflict,
    KeyNotFound,
    RuleErrors,
    RuleRef,
    StoreUnavailable,
)

__all__ = [
    "EXCEPTION_HANDLERS",
    "RETRY_AFTER_SECONDS",
    "STATUS_OF_KIND",
    "ErrorV1",
    "FieldErrorV1",
    "InputError",
    "RuleErrorV1",
    "RuleErrorsV1",
    "json_body_check",
    "takes_json_body",
]

log = logging.getLogger("callpolicy.server")

#: Stable ``code`` of Litestar's own HTTP errors, by status.
_HTTP_CODES = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


class FieldErrorV1(msgspec.Struct, frozen=True, kw_only=True):
    """One wrong input field."""

    key: str
    """The field: ``npn``, ``numbers[2]``, ``area_code``, ``Idempotency-Key``."""
    source: str
    """Where it came from: ``body``, ``query``, ``path`` or ``header``."""
    message: str
    """What was wrong with it."""


class ErrorV1(msgspec.Struct, frozen=True, kw_only=True):
    """The body of every error answer (except a failed rules reload)."""

    code: str
    """Stable machine-readable code: ``invalid_request``, ``not_liftable``, ``not_found`` …"""
    message: str
    """One human-readable line."""
    errors: list[FieldErrorV1] = []
    """For 400: every wrong field."""
    rule: RuleRef | None = None
    """For a refusal of the rules: the rule (id, file, line) that refused."""


class RuleErrorV1(msgspec.Struct, frozen=True, kw_only=True):
    """One located mistake in a rule file (policy ``RuleError``)."""

    code: str
    file: str
    line: int
    path: str
    found: str
    expected: str


class RuleErrorsV1(msgspec.Struct, frozen=True, kw_only=True):
    """The body of a failed reload (422): every error, sorted by file and line."""

    code: str
    message: str
    errors: list[RuleErrorV1]


class InputError(Exception):
    """A client input error found by a handler (not by the signature): 400, fields named."""

    def __init__(self, message: str, errors: list[FieldErrorV1]) -> None:
        self.message = message
        self.errors = errors
        super().__init__(message)


def _json(status: int, body: object, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(body, status_code=status, media_type=MediaType.JSON, headers=headers)


_FIELD_IN_MESSAGE = re.compile(r"(?:unknown|required) field `([^`]+)`")
_MISSING_PARAMETER = re.compile(r"Missing required (\w+) parameter '([^']+)'")


def _field_key(key: str, message: str) -> str:
    """The field a message is about: msgspec names unknown/missing fields in the text."""
    key = "" if key == "data" else key  # "data" is Litestar's name for the whole body
    if m := _FIELD_IN_MESSAGE.search(message):
        return f"{key}.{m.group(1)}" if key else m.group(1)
    return key


def _field_errors(exc: ValidationException) -> list[FieldErrorV1]:
    """Litestar's ValidationException as field errors, each naming key and source."""
    out = []
    for item in exc.extra if isinstance(exc.extra, list) else []:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", ""))
        source = str(item.get("source", "body"))
        out.append(
            FieldErrorV1(
                key=_field_key(str(item.get("key", "")), message),
                # ParamType members print as "ParamType.PATH": keep "path".
                source=source.rpartition(".")[2].lower(),
                message=message,
            )
        )
    if not out and (m := _MISSING_PARAMETER.search(exc.detail)):
        out.append(FieldErrorV1(key=m.group(2), source=m.group(1), message="missing"))
    if not out:  # malformed JSON and the like: about the body as a whole
        out.append(FieldErrorV1(key="", source="body", message=exc.detail))
    return out


def _validation(_: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors = _field_errors(exc)
    first = errors[0]
    message = f"{first.key}: {first.message}" if first.key else first.message
    return _json(400, ErrorV1(code="invalid_request", message=message, errors=errors))


def _http(_: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    if status >= 500:
        log.error("internal error: %s", exc.detail, exc_info=exc)
        body = ErrorV1(code=_HTTP_CODES.get(status, "internal_error"), message="internal error")
        return _json(status, body)
    code = _HTTP_CODES.get(status, "http_error")
    # A 400 that is not a ValidationException is about the body as a whole (bad JSON).
    errors = [FieldErrorV1(key="", source="body", message=exc.detail)] if status == 400 else []
    body = ErrorV1(code=code, message=exc.detail, errors=errors)
    return _json(status, body, headers=exc.headers)


def _input(_: Request[Any, Any, Any], exc: InputError) -> Response[Any]:
    return _json(400, ErrorV1(code="invalid_request", message=exc.message, errors=exc.errors))


#: The HTTP status of each kind of refused request (``policy.errors.REQUEST_CODES``):
#: the policy core names what went wrong, the server how HTTP says it.
STATUS_OF_KIND: dict[str, int] = {
    "invalid": 400,
    "not_found": 404,
    "conflict": 409,
    "forbidden": 403,
}


def _customer(request: Request[Any, Any, Any], exc: CustomerError) -> Response[Any]:
    status = STATUS_OF_KIND[exc.kind]
    errors = []
    if exc.field and status == 400:
        # Targets come in the body of POST/PUT and in the path of GET/DELETE.
        source = "body" if request.method in ("POST", "PUT", "PATCH") else "path"
        errors.append(FieldErrorV1(key=exc.field, source=source, message=exc.message))
    body = ErrorV1(code=exc.code, message=exc.message, errors=errors, rule=exc.rule)
    return _json(status, body)


def _not_found(_: Request[Any, Any, Any], exc: AccountNotFound) -> Response[Any]:
    return _json(404, ErrorV1(code="not_found", message=f"no account {str(exc)!r}"))


def _no_key(_: Request[Any, Any, Any], exc: KeyNotFound) -> Response[Any]:
    return _json(404, ErrorV1(code="not_found", message=f"no live key {str(exc)!r}"))


def _exists(_: Request[Any, Any, Any], exc: AccountExists) -> Response[Any]:
    return _json(409, ErrorV1(code="account_exists", message=f"account {str(exc)!r} exists"))


def _idempotency(_: Request[Any, Any, Any], exc: IdempotencyConflict) -> Response[Any]:
    return _json(422, ErrorV1(code="idempotency_conflict", message=str(exc)))


def _rule_errors(_: Request[Any, Any, Any], exc: RuleErrors) -> Response[Any]:
    items = [
        RuleErrorV1(
            code=e.code, file=e.file, line=e.line, path=e.path, found=e.found, expected=e.expected
        )
        for e in exc
    ]
    n = len(items)
    message = f"{n} error{'s' if n != 1 else ''} in the rule files; the running rules stay"
    return _json(422, RuleErrorsV1(code="rule_errors", message=message, errors=items))


def _engine(_: Request[Any, Any, Any], exc: EngineError) -> Response[Any]:
    log.error("rules engine: %s", exc)
    return _json(500, ErrorV1(code="engine_error", message=str(exc)))


#: Seconds a client should wait before retrying after a 503 (the store unavailable).
RETRY_AFTER_SECONDS = 5


def _unavailable(request: Request[Any, Any, Any], exc: StoreUnavailable) -> Response[Any]:
    log.warning("store unavailable on %s %s: %s", request.method, request.url.path, exc)
    metrics = request.app.state.get("metrics")
    if metrics is not None:
        metrics.store_errors.inc()
    body = ErrorV1(code="store_unavailable", message="the store is unavailable: retry later")
    return _json(503, body, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    return _json(500, ErrorV1(code="internal_error", message="internal error"))


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ValidationException: _validation,
    HTTPException: _http,
    InputError: _input,
    CustomerError: _customer,
    AccountNotFound: _not_found,
    AccountExists: _exists,
    KeyNotFound: _no_key,
    IdempotencyConflict: _idempotency,
    RuleErrors: _rule_errors,
    EngineError: _engine,
    StoreUnavailable: _unavailable,
    Exception: _internal,
}
"""Passed to ``Litestar(exception_handlers=...)``; the most specific class wins."""


def _too_deep() -> ErrorV1:
    message = "JSON nested too deeply"
    return ErrorV1(
        code="invalid_request",
        message=message,
        errors=[FieldErrorV1(key="", source="body", message=message)],
    )


def takes_json_body(handler: HTTPRouteHandler) -> bool:
    """Whether the handler (or one of its dependencies) reads a JSON request body."""
    fields = [handler.parsed_fn_signature.parameters.get("data")]
    fields += [
        d.parsed_fn_signature.parameters.get("data")
        for d in handler.resolve_dependencies().values()
    ]
    for data in fields:
        if data is None:
            continue
        media_type = (
            data.kwarg_definition.media_type
            if isinstance(data.kwarg_definition, BodyKwarg)
            else None
        )
        return media_type in (None, RequestEncodingType.JSON)
    return False


def _is_json(media_type: str) -> bool:
    kind = media_type.strip().lower()
    return kind == "application/json" or (
        kind.startswith("application/") and kind.endswith("+json")
    )


def json_body_check() -> Callable[[Request[Any, Any, Any]], Awaitable[None]]:
    """The app's before-request hook (one per app: it remembers which routes take JSON)."""
    takes_json: dict[HTTPRouteHandler, bool] = {}

    async def check_json_body(request: Request[Any, Any, Any]) -> None:
        handler = request.route_handler
        if not isinstance(handler, HTTPRouteHandler):
            return
        json_body = takes_json.get(handler)
        if json_body is None:
            json_body = takes_json[handler] = takes_json_body(handler)
        if json_body:
            await _check_json_body(request)

    return check_json_body


async def _check_json_body(request: Request[Any, Any, Any]) -> None:
    """A route with a JSON body gets JSON, decodable, or an error.

    415 (``ErrorV1``) unless the Content-Type is ``application/json`` or
    ``application/*+json``; then the body is decoded once here (Litestar keeps the result
    for the handler's ``data``), so JSON nested deeper than the decoder's recursion limit is
    a 400 on every route rather than a RecursionError (500) somewhere inside. Runs after
    authentication and guards: a caller who may not use the route learns nothing more.
    """
    media_type, _ = request.content_type
    if not _is_json(media_type):
        raise HTTPException(
            status_code=415,
            detail="the body must be JSON (Content-Type: application/json), "
            f"not {media_type or 'none'!r}",
        )
    try:
        await request.json()
    except RecursionError:
        too_deep = _too_deep()
        raise InputError(too_deep.message, too_deep.errors) from None
    except SerializationException:
        return  # not JSON at all: the data extraction answers it (400, as ever)
