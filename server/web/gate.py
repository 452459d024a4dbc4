"""The web router's gate: session, language and CSRF before every page; error pages after.

Before each handler (``before_request`` of the web router): the session is read from
the store by the cookie's token hash and its idle deadline moved on; the language is
chosen (``?lang=`` > the ``cp_lang`` cookie > the session's > German); and every POST is
checked for its CSRF token (the session's, or on the login form the ``cp_csrf`` cookie's)
before any handler runs, so no form can be forgotten. A POST without a session goes to
the login page and changes nothing.

The exception handlers turn every refusal into an HTML page with the status the API
would answer (never a 500 for bad input): 400 for a malformed form, 403, 404, 409 for a
refusal of the rules, 429 for a locked login, 503 with Retry-After when the store is
unavailable.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Redirect
from litestar.types import ExceptionHandlersMap

from policy import CustomerError, StoreUnavailable, WebSession

from .i18n import DEFAULT_LANG, LANGS, translator
from .pages import (
    SECURITY_HEADERS,
    LoginRequired,
    WebError,
    back_link,
    customer_error,
    page,
    provide_w,
    remembered,
)
from .session import (
    CSRF_COOKIE,
    LANG_COOKIE,
    SESSION_COOKIE,
    WEB_STATE_KEY,
    WebState,
    expired_cookie,
    new_token,
    refreshed,
    same_token,
    token_hash,
)

__all__ = ["WEB_EXCEPTION_HANDLERS", "gate", "with_web_pages"]

log = logging.getLogger("callpolicy.server.web")

#: A cookie value longer than this is no token of ours (not worth hashing).
_MAX_TOKEN = 100


def _language(request: Request[Any, Any, Any], session_lang: str | None) -> str:
    for candidate in (
        request.query_params.get("lang"),
        request.cookies.get(LANG_COOKIE),
        session_lang,
    ):
        if candidate in LANGS:
            return str(candidate)
    return DEFAULT_LANG


def _identify(request: Request[Any, Any, Any]) -> WebSession | None:
    """The time, the session (read, not refreshed) and the language, into the request's
    state (``provide_w`` reads them): the gate's first step, and all an error page for a
    URL that names no page needs."""
    state: WebState = request.app.state[WEB_STATE_KEY]
    scope_state = request.scope.setdefault("state", {})
    now = state.clock()
    scope_state["web_now"] = now
    session = None
    token = request.cookies.get(SESSION_COOKIE, "")
    if token and len(token) <= _MAX_TOKEN:
        digest = token_hash(token)
        # A point read, on the event loop as the API's key lookups (a thread hop costs more).
        session = state.store.get_session(digest, now)
        scope_state["web_token_hash"] = digest
    scope_state["web_session"] = session
    scope_state["web_lang"] = _language(request, session.lang if session else None)
    return session


async def gate(request: Request[Any, Any, Any]) -> None:
    """Session, language, login-form token and the CSRF check of every POST."""
    state: WebState = request.app.state[WEB_STATE_KEY]
    scope_state = request.scope["state"]
    session = _identify(request)
    now = scope_state["web_now"]
    fresh = refreshed(session, now) if session else None
    if fresh is not None:
        digest = scope_state["web_token_hash"]
        await anyio.to_thread.run_sync(state.store.put_session, digest, fresh, now)
        scope_state["web_session"] = session = fresh
    login_form = bool(request.route_handler.opt.get("web_login_form"))
    if login_form:
        cookie = request.cookies.get(CSRF_COOKIE, "")
        if 20 <= len(cookie) <= _MAX_TOKEN:
            scope_state["web_login_csrf"] = cookie
        elif request.method == "GET":
            minted = new_token()
            scope_state["web_login_csrf"] = scope_state["web_login_csrf_new"] = minted
    if request.method != "POST":
        return
    form = await request.form()
    scope_state["web_form"] = {k: form.get(k) for k in form}
    expected = scope_state.get("web_login_csrf") if login_form else None
    if not login_form:
        if session is None:
            raise LoginRequired
        expected = session.csrf
    if not same_token(str(form.get("csrf_token") or ""), expected):
        t = translator(scope_state["web_lang"])
        raise WebError(403, "csrf", t("err.csrf"))


def _error_page(
    request: Request[Any, Any, Any], status: int, code: str, text: str
) -> Response[Any]:
    """The error page: the text, a link back to the account page it came from (if any)
    and to the start page."""
    w = provide_w(request)
    back = back_link(w)
    return page(
        w,
        "error.html",
        w.t(f"title.error.{_title_of(status)}"),
        status=status,
        error=(code, text),
        nav_account=back[0] if back else None,
        back=back[1:] if back else None,
    )


def _title_of(status: int) -> str:
    return str(status) if status in (400, 403, 404, 405, 409, 429, 503) else "other"


def _web_error(request: Request[Any, Any, Any], exc: WebError) -> Response[Any]:
    response = _error_page(request, exc.status, exc.code, exc.message)
    response.headers.update(exc.headers)
    return response


def _login_required(request: Request[Any, Any, Any], _: LoginRequired) -> Response[Any]:
    """To the login page; back to this page afterwards if it was one to GET."""
    query = {"next": request.url.path} if request.method == "GET" else {}
    target = "/web/login" + ("?" + urlencode(query) if query else "")
    secure = request.url.scheme == "https"
    cookies = remembered(provide_w(request))  # a ?lang= on the way is kept
    if request.cookies.get(SESSION_COOKIE):  # an ended session's: drop it
        cookies.append(expired_cookie(SESSION_COOKIE, "/", secure))
    return Redirect(target, status_code=303, headers=SECURITY_HEADERS, cookies=cookies)


def _customer(request: Request[Any, Any, Any], exc: CustomerError) -> Response[Any]:
    status, code, text = customer_error(provide_w(request), exc)
    return _error_page(request, status, code, text)


def _http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Litestar's own refusals (a malformed path or query parameter: 400; 404; 405)."""
    t = translator(request.scope["state"].get("web_lang", DEFAULT_LANG))
    key = {400: "err.bad_request", 404: "err.no_page", 405: "err.bad_method"}.get(
        exc.status_code, "err.bad_request"
    )
    response = _error_page(request, exc.status_code, "http", t(key))
    if exc.status_code == 405 and exc.headers:  # Allow: the methods the URL takes
        response.headers.update(exc.headers)
    return response


def _is_web(path: str) -> bool:
    return path == "/web" or path.startswith("/web/")


def with_web_pages(handlers: ExceptionHandlersMap) -> ExceptionHandlersMap:
    """The app's exception handlers, with a URL under ``/web`` that names no page (404) or
    not with this method (405) answered as the pages' HTML error page, in the user's
    language; every other URL (``/v1/...``) keeps the API's handler and its JSON.

    Litestar's router refuses such a URL before any route (and so the web router's own
    handlers) is found: only the app's handlers see it.
    """
    api_http = handlers[HTTPException]

    def http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
        if exc.status_code in (404, 405) and _is_web(request.url.path):
            try:
                _identify(request)  # the gate never ran: session and language
            except StoreUnavailable:
                request.scope.setdefault("state", {})["web_session"] = None
            return _http(request, exc)
        return api_http(request, exc)

    return {**handlers, HTTPException: http}


def _unavailable(request: Request[Any, Any, Any], exc: StoreUnavailable) -> Response[Any]:
    log.warning("store unavailable on %s %s: %s", request.method, request.url.path, exc)
    t = translator(request.scope["state"].get("web_lang", DEFAULT_LANG))
    response = _error_page(request, 503, "store_unavailable", t("err.unavailable"))
    response.headers["Retry-After"] = "5"
    return response


def _internal(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A fault of ours: logged with its traceback; a page without templates (a template
    error must not fail the error page too)."""
    log.error("internal error on %s %s", request.method, request.url.path, exc_info=exc)
    lang = request.scope["state"].get("web_lang", DEFAULT_LANG)
    t = translator(lang)
    body = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        f"<title>{t('title.error.other')}</title></head><body>"
        f'<main id="main" data-error="internal_error"><h1>{t("title.error.other")}</h1>'
        f'<p id="error" role="alert">{t("err.internal")}</p>'
        f'<p><a href="/web/">{t("error.back")}</a></p></main></body></html>'
    )
    return Response(body, status_code=500, media_type="text/html", headers=SECURITY_HEADERS)


WEB_EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    WebError: _web_error,
    LoginRequired: _login_required,
    CustomerError: _customer,
    HTTPException: _http,
    ValidationException: _http,  # named: the app's own handler of it would win otherwise
    StoreUnavailable: _unavailable,
    Exception: _internal,
}
"""The web router's exception handlers: HTML pages instead of the API's JSON."""
