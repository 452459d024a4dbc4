"""German by default, English on request (remembered), and back (docs/web.md)."""

from __future__ import annotations

from .conftest import BUTTON, Web


def test_german_by_default_then_english_remembered_across_pages_and_the_login(web: Web) -> None:
    web.goto("/web/login", "login-de")
    assert web.lang() == "de"
    assert web.page.get_by_role("button", name=BUTTON["login"]["de"], exact=True).count() == 1

    with web.page.expect_navigation():
        web.page.get_by_role("link", name="English", exact=True).click()
    web.look("login-en")
    assert web.lang() == "en"
    assert web.page.get_by_role("button", name=BUTTON["login"]["en"], exact=True).count() == 1
    assert web.page.get_by_role("link", name="Deutsch", exact=True).count() == 1

    web.login("admin_a", name="login-en-again")  # no ?lang= now: the cookie remembers
    assert web.lang() == "en"
    web.goto("/web/accounts/acme/blocks", "blocks-en")
    assert web.lang() == "en"
    assert web.page.get_by_role("button", name=BUTTON["add_block"]["en"], exact=True).count() == 1
    assert web.page.get_by_role("button", name=BUTTON["logout"]["en"], exact=True).count() == 1

    with web.page.expect_navigation():
        web.page.get_by_role("link", name="Deutsch", exact=True).click()
    web.look("blocks-de")
    assert web.lang() == "de"
    assert web.page.url.split("?")[0].endswith("/web/accounts/acme/blocks")
    assert web.page.get_by_role("button", name=BUTTON["add_block"]["de"], exact=True).count() == 1
