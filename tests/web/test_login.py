"""Logging in (clause 5.1): wrong passwords, the lock, the session cookie, logging out."""

from __future__ import annotations

import re

import httpx

from .conftest import BUTTON, Served, Web


def test_a_wrong_password_is_refused_and_the_right_one_logs_in(web: Web) -> None:
    admin = web.served.logins["admin_a"]
    web.goto("/web/login", "login")
    assert web.lang() == "de"
    web.login_form(admin.login, "not the password", "wrong-password", 401)
    assert web.error() == "login_failed"
    alert = web.page.locator("#error[role=alert]")
    assert alert.is_visible(), web.main_text()
    assert alert.inner_text().strip()
    assert web.page.input_value("#password") == ""  # never sent back into the page

    web.login_form(admin.login, admin.password, "logged-in", 200)
    assert web.page.url.endswith("/web/accounts/acme"), web.page.url


def test_an_unknown_login_is_refused_like_a_wrong_password(web: Web) -> None:
    web.goto("/web/login", "login")
    web.login_form("nobody-here", "whatever it is", "unknown-login", 401)
    assert web.error() == "login_failed"


def test_repeated_failures_lock_the_login_even_for_the_right_password(web: Web) -> None:
    # bravo's employee is used by no other test: its lock harms none of them.
    user = web.served.logins["employee_b"]
    web.goto("/web/login", "login")
    for i in range(1, 5):
        web.login_form(user.login, f"wrong {i}", f"failure-{i}", 401)
        assert web.error() == "login_failed"
    response = web.login_form(user.login, "wrong 5", "locked", 429)
    assert web.error() == "locked"
    assert int(response.headers["retry-after"]) > 0
    message = web.page.locator("#error[role=alert]").inner_text()
    # The time to retry in Berlin time with its zone, as people here read it.
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d (MEZ|MESZ)", message), f"no time: {message!r}"
    assert "UTC" not in message

    web.goto("/web/login", "login-again")
    response = web.login_form(user.login, user.password, "locked-right-password", 429)
    assert web.error() == "locked"
    assert "retry-after" in response.headers
    assert not [c for c in web.page.context.cookies() if c["name"] == "cp_session"]


def test_the_session_cookie_is_httponly_and_samesite_lax_and_not_secure_over_http(
    web: Web,
) -> None:
    web.goto("/web/login", "login")
    csrf = {c["name"]: c for c in web.page.context.cookies()}["cp_csrf"]
    assert csrf["httpOnly"] and csrf["sameSite"] == "Lax" and csrf["path"] == "/web"

    web.login("admin_a")
    cookies = {c["name"]: c for c in web.page.context.cookies()}
    session = cookies["cp_session"]
    assert session["httpOnly"] is True
    assert session["sameSite"] == "Lax"
    assert session["path"] == "/"
    assert session["secure"] is False  # plain http: a Secure cookie would never come back
    assert session["expires"] == -1  # a browser-session cookie; the server ends it (12 h)
    # Scripts in the page cannot read it (HttpOnly).
    assert "cp_session" not in web.page.evaluate("document.cookie")

    web.submit(BUTTON["logout"]["de"], "logged-out")
    assert web.page.url.endswith("/web/login"), web.page.url
    assert web.page.goto("/web/accounts/acme") is not None
    web.look("after-logout")
    assert "/web/login" in web.page.url  # the session ended on the server too


def _login_over(served: Served, proto: str) -> httpx.Response:
    """Log in over plain http, announcing ``proto`` as a TLS-terminating proxy would.

    The cookie ``cp_csrf`` is passed by hand: over "https" it is Secure, and a client's
    cookie jar keeps a Secure cookie from a plain http URL (as a browser would)."""
    admin = served.logins["admin_a"]
    headers = {"X-Forwarded-Proto": proto}
    with httpx.Client(base_url=served.url, headers=headers) as client:
        page = client.get("/web/login")
        token = re.search(r'name="csrf_token"\s+value="([^"]+)"', page.text)
        assert token, page.text
        (csrf,) = [h for h in page.headers.get_list("set-cookie") if h.startswith("cp_csrf=")]
        assert ("secure" in csrf.lower()) == (proto == "https"), csrf
        client.cookies.clear()
        return client.post(
            "/web/login",
            data={"login": admin.login, "password": admin.password, "csrf_token": token[1]},
            headers={"Cookie": csrf.split(";", 1)[0]},
        )


def test_the_session_cookie_is_secure_when_the_request_came_over_https(
    served: Served,
) -> None:
    """Behind a TLS-terminating proxy on loopback (uvicorn trusts X-Forwarded-Proto from
    127.0.0.1 by default), the request is https and the cookie says Secure; over plain
    http it must not (the browser would drop it and no login could work)."""
    secure = _login_over(served, "https")
    assert secure.status_code == 303, secure.text
    session = [h for h in secure.headers.get_list("set-cookie") if h.startswith("cp_session=")]
    assert session and "secure" in session[0].lower(), session
    assert "httponly" in session[0].lower() and "samesite=lax" in session[0].lower()

    plain = _login_over(served, "http")
    assert plain.status_code == 303, plain.text
    session = [h for h in plain.headers.get_list("set-cookie") if h.startswith("cp_session=")]
    assert session and "secure" not in session[0].lower(), session
