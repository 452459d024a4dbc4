"""Logging in to the Telefonie-Konto (clause 5.1): passwords, lockout, sessions, cookies,
CSRF and the language."""

from __future__ import annotations

import pytest

from server.web import login as login_module
from server.web.session import ABSOLUTE_SECONDS, IDLE_SECONDS

from ._webclient import Web, csrf_of, error_of
from .conftest import NOW


def test_the_login_page_is_german_with_labelled_fields_and_a_token(web: Web) -> None:
    r = web.get("/web/login")
    assert r.status_code == 200
    assert '<html lang="de">' in r.text
    assert '<label for="login">Benutzername</label>' in r.text
    assert '<label for="password">Passwort</label>' in r.text
    assert ">Anmelden</button>" in r.text
    assert csrf_of(r.text) == web.client.cookies["cp_csrf"]


def test_login_sets_a_session_cookie_with_its_flags(web: Web) -> None:
    r = web.login("admin_a")
    assert r.status_code == 303
    assert r.headers["location"] == "/web/"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("cp_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/;" in cookie or cookie.endswith("Path=/")
    assert "Secure" not in cookie  # plain http here
    assert web.get("/web/").headers["location"] == "/web/accounts/acme"


def test_the_session_cookie_is_secure_over_https(web: Web) -> None:
    page = web.client.get("https://testserver/web/login")
    form = {
        "login": "acme-admin",
        "password": "acme-admin-password",
        "next": "",
        "csrf_token": csrf_of(page.text),
    }
    r = web.client.post("https://testserver/web/login", data=form, follow_redirects=False)
    assert r.status_code == 303
    assert "Secure" in r.headers["set-cookie"]


def test_only_the_tokens_hash_is_stored(web: Web) -> None:
    r = web.login("admin_a")
    token = r.cookies["cp_session"]
    rows = web.store._conn().execute("SELECT hash, doc FROM web_sessions").fetchall()
    assert len(rows) == 1
    assert token not in rows[0][0] and token.encode() not in rows[0][1]


def test_a_wrong_password_is_401_and_an_unknown_user_the_same(web: Web) -> None:
    wrong = web.login("admin_a", password="not the password")
    assert wrong.status_code == 401
    assert error_of(wrong.text) == "login_failed"
    assert "Benutzername oder Passwort ist falsch." in wrong.text
    assert "cp_session" not in wrong.headers.get("set-cookie", "")
    web.logins["ghost"] = web.logins["admin_a"].__class__("ghost", "whatever12", "admin", "acme")
    unknown = web.login("ghost")
    assert unknown.status_code == 401
    assert error_of(unknown.text) == "login_failed"


def test_the_fifth_failure_locks_even_the_right_password(web: Web) -> None:
    for _ in range(4):
        assert web.login("admin_a", password="wrong password").status_code == 401
    locked = web.login("admin_a", password="wrong password")
    assert locked.status_code == 429
    assert error_of(locked.text) == "locked"
    assert locked.headers["retry-after"] == str(15 * 60)
    # When to retry: Berlin time with its zone (NOW is 00:00 UTC, 01:00 MEZ), never UTC.
    assert "bitte versuchen Sie es ab 2026-01-01 01:15 MEZ erneut." in locked.text
    assert "UTC" not in locked.text
    right = web.login("admin_a")
    assert right.status_code == 429
    # Another login is not locked by it (the address limit is higher).
    assert web.login("employee_a").status_code == 303
    web.clock.now = NOW + 15 * 60 + 1
    assert web.login("admin_a").status_code == 303


def test_a_successful_login_clears_the_count(web: Web) -> None:
    for _ in range(4):
        web.login("admin_a", password="wrong password")
    assert web.login("admin_a").status_code == 303
    assert web.login("admin_a", password="wrong password").status_code == 401


def test_failures_from_one_address_lock_it(web: Web, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(login_module, "ADDRESS_LIMIT", 3)
    web.login("admin_a", password="wrong password")
    web.login("employee_a", password="wrong password")
    assert web.login("admin_b", password="wrong password").status_code == 429
    assert web.login("employee_b").status_code == 429


def test_a_disabled_login_is_refused(web: Web) -> None:
    web.store.update_user(
        "acme-employee", lambda u: u.__class__(**{**_fields(u), "disabled": True})
    )
    r = web.login("employee_a")
    assert r.status_code == 403
    assert error_of(r.text) == "disabled"


def _fields(u: object) -> dict[str, object]:
    import msgspec

    return msgspec.structs.asdict(u)  # type: ignore[arg-type]


def test_login_goes_on_to_the_page_asked_for_but_never_elsewhere(web: Web) -> None:
    page = web.get("/web/accounts/acme/charges")
    assert page.status_code == 303
    assert page.headers["location"] == "/web/login?next=%2Fweb%2Faccounts%2Facme%2Fcharges"
    assert web.login("admin_a", next="/web/accounts/acme/charges").headers["location"] == (
        "/web/accounts/acme/charges"
    )
    for evil in ("//evil.example/", "https://evil.example/", "/web/\\evil"):
        assert web.login("admin_a", next=evil).headers["location"] == "/web/"


def test_logout_ends_the_session_in_the_store(web: Web) -> None:
    web.as_("admin_a")
    token = web.client.cookies["cp_session"]
    r = web.post("/web/logout")
    assert r.status_code == 303
    assert r.headers["location"] == "/web/login"
    assert 'cp_session=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
    web.client.cookies.set("cp_session", token)  # the old cookie, replayed
    assert web.get("/web/accounts/acme").status_code == 303


def test_a_session_ends_when_idle(web: Web) -> None:
    web.as_("admin_a")
    web.clock.now = NOW + IDLE_SECONDS - 1
    assert web.get("/web/accounts/acme").status_code == 200  # moves the idle deadline on
    web.clock.now += IDLE_SECONDS - 1
    assert web.get("/web/accounts/acme").status_code == 200
    web.clock.now += IDLE_SECONDS
    r = web.get("/web/accounts/acme")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/web/login")


def test_a_session_ends_after_its_absolute_lifetime(web: Web) -> None:
    web.as_("admin_a")
    while web.clock.now + IDLE_SECONDS / 2 < NOW + ABSOLUTE_SECONDS:
        web.clock.now += IDLE_SECONDS / 2
        assert web.get("/web/accounts/acme").status_code == 200
    web.clock.now = NOW + ABSOLUTE_SECONDS
    assert web.get("/web/accounts/acme").status_code == 303


def test_a_form_without_the_csrf_token_is_refused_and_changes_nothing(web: Web) -> None:
    web.as_("admin_a")
    before = web.store.get_account("acme")
    for token in ("", "forged-token-forged-token-forged-token-xx"):
        r = web.post("/web/accounts/acme/blocks", {"kind": "prefix", "value": "0190"}, csrf=token)
        assert r.status_code == 403
        assert error_of(r.text) == "csrf"
        assert "CSRF" in r.text
    assert web.store.get_account("acme") == before
    assert web.post("/web/logout", csrf="").status_code == 403


def test_the_login_form_without_its_token_is_refused(web: Web) -> None:
    web.get("/web/login")
    form = {"login": "acme-admin", "password": "acme-admin-password"}
    r = web.client.post("/web/login", data=form, follow_redirects=False)
    assert r.status_code == 403
    assert error_of(r.text) == "csrf"
    # A token of the form but another cookie (a cross-site post) neither.
    web.client.cookies.set("cp_csrf", "x" * 43, path="/web")
    r = web.client.post("/web/login", data={**form, "csrf_token": "y" * 43})
    assert r.status_code == 403


def test_a_post_without_a_session_goes_to_the_login(web: Web) -> None:
    r = web.client.post(
        "/web/accounts/acme/blocks",
        data={"kind": "prefix", "value": "0190"},
        follow_redirects=False,
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/web/login"


def test_the_language_switches_to_english_and_stays(web: Web) -> None:
    page = web.get("/web/login?lang=en")
    assert '<html lang="en">' in page.text
    assert ">Log in</button>" in page.text
    assert 'href="/web/login?lang=de"' in page.text  # the switch back
    assert "cp_lang=en" in page.headers["set-cookie"]
    assert '<html lang="en">' in web.get("/web/login").text
    r = web.login("admin_a", password="wrong password")
    assert "Wrong user name or password." in r.text
    assert '<html lang="de">' in web.get("/web/login?lang=de").text


def test_pages_carry_security_headers(web: Web) -> None:
    r = web.get("/web/login")
    assert r.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-frame-options"] == "DENY"


def test_the_language_asked_for_survives_the_way_to_the_login(web: Web) -> None:
    r = web.get("/web/?lang=en")
    assert r.status_code == 303
    assert "cp_lang=en" in r.headers["set-cookie"]
    assert ">Log in</button>" in web.get(r.headers["location"]).text


def test_a_hash_with_weaker_parameters_is_upgraded_at_login(web: Web) -> None:
    login = web.logins["admin_a"]
    before = web.store.get_user(login.login)
    assert before is not None and "m=1024" in before.password_hash  # seeded cheaply
    assert web.login("admin_a").status_code == 303
    after = web.store.get_user(login.login)
    assert after is not None and "m=65536" in after.password_hash  # argon2-cffi's default
    assert after.password_changed_at == before.password_changed_at  # same password
    web.client.cookies.clear()
    assert web.login("admin_a").status_code == 303  # and it still logs in
