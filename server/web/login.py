"""Log in, log out, and the start page (clause 5.1: a user name and a password).

Failed logins are counted in the store per login name and per client address, so every
API node sees the same counts: the ``USER_LIMIT``-th failure of a name within
``WINDOW_SECONDS`` locks it, as does the ``ADDRESS_LIMIT``-th from one address (higher:
many people may share an office's address). While locked even the right password is
refused, with the time to retry. An unknown name is answered like a wrong password, as
slowly (``verify_password`` hashes either way), and counted the same, so the page does
not tell which names exist.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.params import QueryParameter
from litestar.response import Redirect

from policy import CustomerError, User, normalise_login, upgraded_hash, verify_password

from .i18n import when
from .pages import SECURITY_HEADERS, WDep, WebError, page, remembered
from .session import SESSION_COOKIE, expired_cookie, new_session, session_cookie, token_hash

__all__ = ["ADDRESS_LIMIT", "HANDLERS", "USER_LIMIT", "WINDOW_SECONDS"]

#: Failures of one login name that lock it (for WINDOW_SECONDS after the oldest).
USER_LIMIT = 5
#: Failures from one client address that lock the address.
ADDRESS_LIMIT = 20
WINDOW_SECONDS = 15 * 60


NextPage = Annotated[str, QueryParameter(name="next", max_length=300)]


def _redirect(w: WDep, to: str, cookies: list[Cookie] | None = None) -> Redirect:
    """303 to ``to``, keeping a language asked for on the way (``?lang=``)."""
    cookies = [*(cookies or []), *remembered(w)]
    return Redirect(to, status_code=303, headers=SECURITY_HEADERS, cookies=cookies)


def _next(target: str) -> str:
    """Where to go after the login: a page of ours, never another site (open redirect)."""
    ok = target.startswith("/web/") and not target.startswith("//") and "\\" not in target
    return target if ok and len(target) <= 300 else "/web/"


def home_of(role: str, account: str | None) -> str:
    """A user's start page: operators find accounts, customers see their own."""
    return "/web/operator" if role == "operator" or account is None else f"/web/accounts/{account}"


@get("/", sync_to_thread=False)
def start(w: WDep) -> Response[Any]:
    """The start page: the login, or the user's own start page."""
    me = w.me()
    return _redirect(w, home_of(me.role, me.account))


@get("/login", opt={"web_login_form": True}, sync_to_thread=False)
def login_form(w: WDep, next_page: NextPage = "") -> Response[Any]:
    """The login form (a logged-in user goes on to the start page)."""
    if w.session is not None:
        return _redirect(w, _next(next_page))
    return page(w, "login.html", w.t("title.login"), next_page=_next(next_page))


def _locked_until(w: WDep, keys: list[tuple[str, int]]) -> float | None:
    """When the lock of the most locked key ends, if one is locked."""
    until = None
    for key, limit in keys:
        times = w.store.login_failures(key, w.now, WINDOW_SECONDS)
        if len(times) >= limit:
            end = times[len(times) - limit] + WINDOW_SECONDS
            until = end if until is None else max(until, end)
    return until


def _locked(w: WDep, until: float) -> WebError:
    retry = max(1, int(until - w.now))
    return WebError(
        429,
        "locked",
        w.t("err.locked", time=when(until, w.lang)),
        headers={"Retry-After": str(retry)},
    )


def _user(w: WDep, name: str) -> User | None:
    try:
        return w.store.get_user(normalise_login(name))
    except CustomerError:  # not even a well-formed name: no such user
        return None


@post("/login", opt={"web_login_form": True}, sync_to_thread=True, status_code=200)
def login(w: WDep) -> Response[Any]:
    """Check the password; on success a new session and its cookie (303 onwards)."""
    name = w.field("login", 100).lower()
    password = str(w.form.get("password") or "")
    target = _next(w.field("next", 300))
    client = w.request.client.host if w.request.client else "unknown"
    keys = [(f"user:{name}", USER_LIMIT), (f"addr:{client}", ADDRESS_LIMIT)]
    until = _locked_until(w, keys)
    if until is not None:
        raise _locked(w, until)
    user = _user(w, name) if name else None
    if not verify_password(user.password_hash if user else None, password):
        counts = [(w.store.note_login_failure(k, w.now, WINDOW_SECONDS), n) for k, n in keys]
        if any(count >= limit for count, limit in counts):
            raise _locked(w, _locked_until(w, keys) or w.now + WINDOW_SECONDS)
        return page(
            w,
            "login.html",
            w.t("title.login"),
            status=401,
            error=("login_failed", w.t("err.login_failed")),
            next_page=target,
            login_value=name,
            headers={"WWW-Authenticate": 'Form realm="callpolicy"'},
        )
    assert user is not None  # verify_password is False for an unknown user
    if user.disabled:
        raise WebError(403, "disabled", w.t("err.disabled"))
    w.store.clear_login_failures(f"user:{name}")
    upgraded = upgraded_hash(user.password_hash, password)
    if upgraded is not None:  # the parameters were raised since it was set: re-hash now
        w.store.update_user(
            user.login, lambda u: msgspec.structs.replace(u, password_hash=upgraded)
        )
    token, session = new_session(user, w.now, w.lang)
    w.store.put_session(token_hash(token), session, w.now)
    secure = w.request.url.scheme == "https"
    return _redirect(w, target, cookies=[session_cookie(token, secure)])


@post("/logout", sync_to_thread=True, status_code=303)
def logout(w: WDep, request: Request[Any, Any, Any]) -> Response[Any]:
    """End the session (in the store: on every node) and drop the cookie."""
    digest = request.scope["state"].get("web_token_hash")
    if digest:
        w.store.delete_session(digest)
    secure = request.url.scheme == "https"
    return _redirect(w, "/web/login", cookies=[expired_cookie(SESSION_COOKIE, "/", secure)])


HANDLERS = [start, login_form, login, logout]
