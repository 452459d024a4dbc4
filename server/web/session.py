"""Web sessions, their cookie and CSRF tokens (clause 5.1: users log in with a password).

The cookie ``cp_session`` carries a random token (256 bits); the store keeps the session
under the token's SHA-256 only, so a copy of the store (a backup, a replica) holds no
usable cookie, and every API node serves every session. The cookie is ``HttpOnly`` (no
script reads it), ``SameSite=Lax`` (not sent on cross-site POSTs) and ``Secure`` when the
page came over https (behind a TLS proxy: run uvicorn with ``--proxy-headers``).

A session ends after ``IDLE_SECONDS`` without a request, and ``ABSOLUTE_SECONDS`` after
the login whatever happens. Each session has its own CSRF token, which every form sends
back in ``csrf_token``; the login form, used before a session exists, sends a token that
must equal the ``cp_csrf`` cookie (double submit).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
from litestar.datastructures import Cookie

from policy import DecisionRecorder, PolicyRuntime, Store, User, WebSession

__all__ = [
    "ABSOLUTE_SECONDS",
    "CSRF_COOKIE",
    "IDLE_SECONDS",
    "LANG_COOKIE",
    "SESSION_COOKIE",
    "WEB_STATE_KEY",
    "WebState",
    "expired_cookie",
    "new_session",
    "new_token",
    "refreshed",
    "same_token",
    "session_cookie",
    "token_hash",
]

SESSION_COOKIE = "cp_session"
CSRF_COOKIE = "cp_csrf"
"""The login form's double-submit token (no session exists yet)."""
LANG_COOKIE = "cp_lang"
#: A session ends after this long without a request.
IDLE_SECONDS = 30 * 60
#: ... and this long after the login, however much it is used.
ABSOLUTE_SECONDS = 12 * 3600
#: A request extends the idle deadline only if that moves it by more than this (one
#: store write a minute per active session, not one per request).
REFRESH_SECONDS = 60

WEB_STATE_KEY = "web"
"""Key of the WebState in the app's ``state``."""


@dataclass(frozen=True, slots=True)
class WebState:
    """What the web pages work with (the API's own store, rules and clock)."""

    store: Store
    runtime: PolicyRuntime
    clock: Callable[[], float]
    """The app's injected clock (tests pin it)."""
    decisions: DecisionRecorder
    """Decision ids (and the decision log) for "test a number", as the API's."""


def new_token() -> str:
    """A fresh random token (256 bits) for a session cookie or a CSRF token."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """The stored form of a session token: SHA-256, hex (random tokens need no salt)."""
    return hashlib.sha256(token.encode()).hexdigest()


def same_token(sent: str | None, expected: str | None) -> bool:
    """Whether a sent token equals the expected one (in constant time; empty never does)."""
    if not sent or not expected:
        return False
    return hmac.compare_digest(sent.encode(), expected.encode())


def new_session(user: User, now: float, lang: str) -> tuple[str, WebSession]:
    """A new session of ``user`` (a new token at every login: no session fixation)."""
    session = WebSession(
        login=user.login,
        account=user.account,
        role=user.role,
        csrf=new_token(),
        created_at=now,
        expires_at=now + IDLE_SECONDS,
        absolute_at=now + ABSOLUTE_SECONDS,
        lang=lang,
    )
    return new_token(), session


def refreshed(session: WebSession, now: float) -> WebSession | None:
    """The session with its idle deadline moved on, or None if it need not be written."""
    deadline = min(now + IDLE_SECONDS, session.absolute_at)
    if deadline - session.expires_at <= REFRESH_SECONDS:
        return None
    return msgspec.structs.replace(session, expires_at=deadline)


def session_cookie(token: str, secure: bool) -> Cookie:
    """``cp_session``: HttpOnly, SameSite=Lax, Path=/, Secure over https; no Max-Age (the
    browser drops it when it closes; the server ends it earlier on its own deadlines)."""
    return Cookie(
        key=SESSION_COOKIE, value=token, path="/", httponly=True, samesite="lax", secure=secure
    )


def expired_cookie(key: str, path: str, secure: bool) -> Cookie:
    """A cookie that tells the browser to drop ``key`` (logout, an ended session)."""
    return Cookie(
        key=key, value="", path=path, max_age=0, httponly=True, samesite="lax", secure=secure
    )
