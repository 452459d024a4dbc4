"""Every page an admin sees, with its forms, and the public block list: axe-core on each."""

from __future__ import annotations

from .conftest import Web

#: The account's pages as its admin sees them (with every change form).
ADMIN_PAGES = ("", "/blocks", "/charges", "/test?to=09001234567", "/site", "/users")


def test_every_page_of_an_admin_passes_axe(web: Web) -> None:
    web.login("admin_a")
    for page in ADMIN_PAGES:
        web.goto(f"/web/accounts/acme{page}", f"admin{page.split('?')[0] or '-overview'}")
        assert web.error() in (None, ""), (page, web.main_text())
    # The number test of a premium-rate number: refused, naming the operator's block.
    web.goto("/web/accounts/acme/test?to=09001234567", "test-premium")
    assert "premium-rate" in web.main_text()

    csv = web.page.request.get("/web/accounts/acme/charges.csv")
    assert csv.status == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text().splitlines()[0]  # a header row, even for an empty ledger


def test_a_site_move_outside_the_local_network_is_refused_with_the_form_again(web: Web) -> None:
    web.login("admin_a")
    web.goto("/web/accounts/acme/site", "site")
    before = web.served.account("acme").site
    web.page.fill("#site-address", "Jungfernstieg 2, Hamburg")
    web.page.fill("#site-municipality", "02000000")
    web.page.fill("#site-area-code", "40")
    web.submit("Standort speichern", "moved-outside", 409)
    assert web.error() == "move_outside_local_network"
    assert web.page.locator("#error[role=alert]").is_visible()
    assert web.page.input_value("#site-address") == "Jungfernstieg 2, Hamburg"  # kept
    assert web.served.account("acme").site == before


def test_the_published_block_list_needs_no_login(web: Web) -> None:
    web.goto("/web/operator-blocks", "published")
    assert "premium-rate" in web.main_text()
    with web.page.expect_navigation():
        web.page.get_by_role("link", name="English", exact=True).click()
    web.look("published-en")
    assert web.lang() == "en"
