"""A browser-like client of the web pages for the Litestar-client tests: logs in as one of
the seeded logins, keeps the cookies, and sends forms with the page's CSRF token."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx
from litestar.testing import TestClient

from policy.state.store import SqliteStore
from tests._web import WebLogin

_CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')
_KEY = re.compile(r'name="idempotency_key" value="([^"]*)"')
_ERROR = re.compile(r'<main id="main" tabindex="-1" data-error="([^"]*)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the page's first form."""
    found = _CSRF.search(html)
    assert found, "no csrf_token on the page"
    return found.group(1)


def idempotency_key_of(html: str) -> str:
    """The idempotency key of an unblock confirm form."""
    found = _KEY.search(html)
    assert found, "no idempotency_key on the page"
    return found.group(1)


def error_of(html: str) -> str:
    """The ``data-error`` code of the page ('' when it shows none)."""
    found = _ERROR.search(html)
    assert found, "no <main> element"
    return found.group(1)


@dataclass
class Clock:
    """The app's clock, moved by the tests."""

    now: float

    def __call__(self) -> float:
        return self.now


@dataclass
class Web:
    """The client of an app over ``store`` with its logins (``admin_a`` ... ``operator``)."""

    client: TestClient  # type: ignore[type-arg]
    store: SqliteStore
    clock: Clock
    logins: dict[str, WebLogin] = field(default_factory=dict)

    def login(self, who: str, password: str | None = None, **extra: str) -> httpx.Response:
        """Log in as ``who`` (the seeded password unless given); no redirect followed."""
        self.client.cookies.delete("cp_session")
        page = self.client.get("/web/login")
        user = self.logins[who]
        form = {"login": user.login, "password": password or user.password, "next": ""}
        form.update(extra)
        form["csrf_token"] = csrf_of(page.text)
        return self.client.post("/web/login", data=form, follow_redirects=False)

    def as_(self, who: str) -> Web:
        """Logged in as ``who`` (asserting that it worked)."""
        r = self.login(who)
        assert r.status_code == 303, r.text
        return self

    def get(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET without following redirects."""
        return self.client.get(path, follow_redirects=False, **kwargs)

    def post(
        self, path: str, data: dict[str, str] | None = None, csrf: str | None = None
    ) -> httpx.Response:
        """POST a form with the session's CSRF token (taken from the start page's logout
        form unless given; ``csrf=""`` sends none)."""
        form = dict(data or {})
        if csrf is None:
            csrf = self.session_csrf()
        if csrf:
            form["csrf_token"] = csrf
        return self.client.post(path, data=form, follow_redirects=False)

    def session_csrf(self) -> str:
        """The session's CSRF token (every page's logout form carries it)."""
        return csrf_of(self.client.get("/web/operator-blocks").text)
