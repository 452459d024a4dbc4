"""The operator's pages: find an account, suspend and resume it (clause 1)."""

from __future__ import annotations

import re

from .conftest import BUTTON, Web


def test_the_operator_finds_an_account_and_suspends_and_resumes_it(web: Web) -> None:
    # bravo: suspending acme would change what the other tests' number tests answer.
    web.login("operator")
    assert web.page.url.split("?")[0].endswith("/web/operator"), web.page.url
    web.page.fill("#find-q", "Bravo")
    web.submit(BUTTON["search"]["de"], "found")
    results = web.page.locator("main a[href$='/web/accounts/bravo']")
    assert results.count() >= 1, web.main_text()
    assert web.page.locator("main a[href$='/web/accounts/acme']").count() == 0
    with web.page.expect_navigation():
        results.first.click()
    web.look("bravo")
    assert "Bravo KG" in web.main_text()

    ground = web.page.locator("#suspend-ground")
    if ground.evaluate("e => e.tagName") == "SELECT":
        values = ground.locator("option").evaluate_all("os => os.map(o => o.value)")
        ground.select_option(next(v for v in values if v))
    else:
        ground.fill("unpaid")
    web.page.fill("#suspend-note", "Rechnung 2026-01 offen")
    web.submit(BUTTON["suspend"]["de"], "suspended")
    notice = web.page.locator("#notice[role=status]")
    assert notice.is_visible()
    # The button said "Aussetzen": the notice says "ausgesetzt" (not "gesperrt").
    assert "ausgesetzt" in notice.inner_text() and "gesperrt" not in notice.inner_text()
    assert re.search(r"seit \d{4}-\d\d-\d\d \d\d:\d\d (MEZ|MESZ)", web.main_text())
    assert web.served.account("bravo").suspension is not None

    web.submit(BUTTON["resume"]["de"], "resumed")
    assert "aufgehoben" in web.page.locator("#notice[role=status]").inner_text()
    assert web.served.account("bravo").suspension is None


def test_a_customer_never_reaches_the_operator_pages(web: Web) -> None:
    web.login("admin_a")
    response = web.page.goto("/web/operator?q=a")
    assert response is not None and response.status in (403, 404), response.status
    web.look("operator-as-admin")
    assert "Bravo" not in web.main_text()
