"""What every page handler works with: the request's context ``w``, rendering, errors.

Handlers stay thin as the API's do: parse the form, call one ``policy`` function or store
method, render. Who may see and change what follows the API (``server/auth.py``, clause
5.1): another account's pages answer 404 exactly like a missing account; an employee
reads everything and changes nothing (403); operators see every account.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from litestar import Request
from litestar.datastructures import Cookie
from litestar.di import NamedDependency
from litestar.params import SkipValidation
from litestar.response import Template

from policy import (
    Account,
    CustomerError,
    DecisionRecorder,
    PolicyRuntime,
    Store,
    StoreUnavailable,
    WebSession,
)

from .i18n import DEFAULT_LANG, LANGS, Translate, money, text_or, translator, when
from .session import CSRF_COOKIE, LANG_COOKIE, WEB_STATE_KEY, WebState

__all__ = [
    "SECURITY_HEADERS",
    "LoginRequired",
    "W",
    "WDep",
    "WebError",
    "back_link",
    "customer_error",
    "form_text",
    "page",
    "provide_w",
    "remembered",
]

#: Sent with every page: no caching of account data, no framing, scripts and styles only
#: from here (there are no scripts), forms only to here.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; script-src 'none'; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class WebError(Exception):
    """A request the pages refuse: rendered as an error page with ``status``."""

    def __init__(
        self, status: int, code: str, message: str, headers: dict[str, str] | None = None
    ) -> None:
        """``code`` goes to ``data-error`` on ``<main>``; ``message`` is shown (translated)."""
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


class LoginRequired(Exception):
    """No session (never logged in, expired, ended): the login page, then back here."""


@dataclass(frozen=True, slots=True)
class W:
    """One page request: the services, the session (if any), the language and the time."""

    request: Request[Any, Any, Any]
    store: Store
    runtime: PolicyRuntime
    decisions: DecisionRecorder
    now: float
    session: WebSession | None
    lang: str
    t: Translate
    form: dict[str, Any]
    """The POSTed form (parsed by the gate, which checked its CSRF token)."""

    def field(self, name: str, limit: int = 200) -> str:
        """A form field as text, trimmed ('' if absent); longer than ``limit``: 400."""
        return form_text(self.form, name, limit, self.t)

    def me(self) -> WebSession:
        """The logged-in user's session, or LoginRequired."""
        if self.session is None:
            raise LoginRequired
        return self.session

    def not_found(self, account_id: str) -> WebError:
        """The one answer for a missing account and for another customer's (clause 5.1)."""
        return WebError(404, "not_found", self.t("err.not_found", account=account_id))

    def account(self, account_id: str) -> Account:
        """The path's account if it exists and the user may see it, else 404."""
        me = self.me()
        if me.role != "operator" and me.account != account_id:
            raise self.not_found(account_id)
        account = self.store.get_account(account_id)
        if account is None:
            raise self.not_found(account_id)
        return account

    def may_change(self, account_id: str) -> Account:
        """The account if the user may change it (its admin, an operator), else 403/404."""
        account = self.account(account_id)
        if self.me().role == "employee":
            raise WebError(403, "forbidden", self.t("err.employee"))
        return account

    def operator(self) -> WebSession:
        """The session of an operator, else 403 (operator pages name no customer account)."""
        me = self.me()
        if me.role != "operator":
            raise WebError(403, "forbidden", self.t("err.operator_only"))
        return me

    @property
    def actor(self) -> str:
        """Who the audit trail names for a change made on these pages."""
        return f"web:{self.me().login}"


def provide_w(request: Request[Any, Any, Any]) -> W:
    """Dependency ``w``: built from what the gate (``gate.py``) put on the request."""
    state: WebState = request.app.state[WEB_STATE_KEY]
    lang = request.scope["state"].get("web_lang", DEFAULT_LANG)
    return W(
        request=request,
        store=state.store,
        runtime=state.runtime,
        decisions=state.decisions,
        now=request.scope["state"].get("web_now", state.clock()),
        session=request.scope["state"].get("web_session"),
        lang=lang,
        t=translator(lang),
        form=request.scope["state"].get("web_form", {}),
    )


def form_text(form: dict[str, Any], name: str, limit: int = 200, t: Translate | None = None) -> str:
    """A form field as text, trimmed ('' if absent); over ``limit`` characters is a 400
    (its message in ``t``'s language, German without one)."""
    value = form.get(name, "")
    if isinstance(value, list):  # the field sent twice: the first counts
        value = value[0] if value else ""
    text = str(value).strip()
    if len(text) > limit:
        say = t or translator(DEFAULT_LANG)
        raise WebError(400, "invalid_form", say("err.too_long", limit=limit))
    return text


#: The HTTP status of each kind of refusal of the rules (as the API's, ``server/errors.py``).
_STATUS_OF_KIND = {"invalid": 400, "not_found": 404, "conflict": 409, "forbidden": 403}


def customer_error(w: W, exc: CustomerError) -> tuple[int, str, str]:
    """Status, code and the text to show for a refusal of the rules (as the API's status).

    The text is the catalogue's for the code, in the page's language, and nothing else:
    the policy layer's message is English, for the API and the logs, and never shown on a
    page. A code the catalogue does not know gets a generic text naming the code.
    """
    text = text_or(w.lang, f"err.{exc.code}", "err.other", code=exc.code)
    return _STATUS_OF_KIND[exc.kind], exc.code, text


#: Where an error page under an account's URL links back to: the account page the user
#: came from (``/unblock``: the blocks page it was reached from), with its nav label.
_BACK = {
    "": ("", "nav.overview"),
    "blocks": ("/blocks", "nav.blocks"),
    "unblock": ("/blocks", "nav.blocks"),
    "charges": ("/charges", "nav.charges"),
    "charges.csv": ("/charges", "nav.charges"),
    "test": ("/test", "nav.test"),
    "site": ("/site", "nav.site"),
    "users": ("/users", "nav.users"),
}


def back_link(w: W) -> tuple[str, str, str] | None:
    """For an error page under an account's URL: (account id, href, text) of the account
    page to go back to, if the user may see that account (else None: a 404 for another
    customer's account must not link into it)."""
    # From the scope: a URL that names no page was never routed and has no path params.
    account_id = (w.request.scope.get("path_params") or {}).get("account_id")
    me = w.session
    if not isinstance(account_id, str) or me is None:
        return None
    if me.role == "operator":
        try:
            if w.store.get_account(account_id) is None:
                return None
        except StoreUnavailable:  # the 503 page itself: no link rather than no page
            return None
    elif me.account != account_id:
        return None
    path = w.request.url.path
    base = f"/web/accounts/{account_id}"
    page_name = path[len(base) :].strip("/").split("/", 1)[0] if path.startswith(base) else ""
    suffix, label = _BACK.get(page_name, _BACK[""])
    if suffix == "/users" and me.role == "employee":  # employees see no user page
        suffix, label = _BACK[""]
    return account_id, base + suffix, w.t("error.back_to", page=w.t(label))


def _lang_href(request: Request[Any, Any, Any], lang: str) -> str:
    """This page in ``lang``: the same GET with ``lang`` set (a POST's page: the start)."""
    if request.method != "GET":
        return "/web/?" + urlencode({"lang": lang})
    query = {k: v for k, v in request.query_params.items() if k != "lang"}
    return request.url.path + "?" + urlencode({**query, "lang": lang})


def remembered(w: W) -> list[Cookie]:
    """The cookies a page sets besides its own: the language asked for with ``?lang=``
    (so the next pages keep it), and a login form's fresh double-submit token."""
    request = w.request
    secure = request.url.scheme == "https"
    out = []
    if request.query_params.get("lang") in LANGS:
        out.append(
            Cookie(
                key=LANG_COOKIE,
                value=w.lang,
                path="/web",
                max_age=365 * 86400,
                httponly=True,
                samesite="lax",
                secure=secure,
            )
        )
    minted = request.scope["state"].get("web_login_csrf_new")
    if minted:
        out.append(
            Cookie(
                key=CSRF_COOKIE,
                value=minted,
                path="/web",
                httponly=True,
                samesite="lax",
                secure=secure,
            )
        )
    return out


def page(
    w: W,
    template: str,
    title: str,
    *,
    status: int = 200,
    error: tuple[str, str] | None = None,
    notice: str = "",
    headers: dict[str, str] | None = None,
    cookies: list[Cookie] | None = None,
    **context: Any,
) -> Template:
    """Render ``template`` in the request's language with the page frame's context.

    ``error`` is (code, text): the text shown in ``role="alert"``, the code on ``<main>``.
    """
    request = w.request
    session = w.session
    csrf = session.csrf if session else request.scope["state"].get("web_login_csrf", "")
    all_cookies = [*(cookies or []), *remembered(w)]
    ctx = {
        "t": w.t,
        "lang": w.lang,
        "other_langs": [(code, _lang_href(request, code)) for code in LANGS if code != w.lang],
        "me": session,
        "csrf": csrf,
        "title": title,
        "error": error[1] if error else "",
        "error_code": error[0] if error else "",
        "notice": notice,
        "money": lambda cents: money(cents, w.lang),
        "when": lambda seconds: when(seconds, w.lang),
        "reason": lambda code: text_or(w.lang, f"reason.{code}", "reason.other", code=code),
        "path": request.url.path,
        "nav_account": None,
        **context,
    }
    return Template(
        template_name=template,
        context=ctx,
        status_code=status,
        headers={**SECURITY_HEADERS, **(headers or {})},
        cookies=all_cookies,
        media_type="text/html",
    )


WDep = NamedDependency[SkipValidation[W]]
"""Dependency ``w`` of every page handler (``provide_w``)."""
