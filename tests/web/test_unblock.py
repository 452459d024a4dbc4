"""An admin's blocks and paid unblocks (clause 9.5), and that one unblock is charged once.

Each test uses targets of its own (the server is shared by the session): the own blocks
0137 and +44, and the operator blocks ``directory``, ``premium-rate``, ``service-012``
and ``user-groups``.
"""

from __future__ import annotations

import re
from typing import Any

from .conftest import BUTTON, Web, axe_check, shot


def _charges_for(web: Web, value: str) -> list[Any]:
    """The store's charges of acme for the target ``value`` (the ledger itself)."""
    return [
        c
        for c in web.served.charges("acme")
        if c.target is not None and value in (c.target.value, c.rule)
    ]


def _ledger_rows(web: Web, text: str) -> int:
    """Rows of the charges page that mention ``text`` (checked, and looked at)."""
    web.goto("/web/accounts/acme/charges?limit=1000", f"charges-{text}")
    return web.page.locator("main tr", has_text=text).count()


def _form_fields(web: Web) -> dict[str, str]:
    """The hidden fields of the unblock form on the page."""
    fields: dict[str, str] = web.page.eval_on_selector_all(
        "main form[method=post] input[type=hidden]",
        "inputs => Object.fromEntries(inputs.map(i => [i.name, i.value]))",
    )
    assert {"kind", "value", "fee_cents", "idempotency_key", "csrf_token"} <= fields.keys()
    return fields


def test_an_admin_blocks_a_range_asks_the_fee_unblocks_and_sees_the_charge(web: Web) -> None:
    web.login("admin_a")
    web.goto("/web/accounts/acme/blocks", "blocks")
    web.page.select_option("#block-kind", "prefix")
    web.page.fill("#block-value", "0137")
    web.submit(BUTTON["add_block"]["de"], "block-added")
    assert web.page.url.split("?")[0].endswith("/web/accounts/acme/blocks")
    assert web.page.locator("#notice[role=status]").is_visible()
    # Kept as canonical digits (0137 dialled in Germany: +49 137), shown as +49137.
    assert "49137" in web.served.account("acme").blocked_prefixes
    assert web.page.locator("#own-blocks tr", has_text="+49137").count() == 1

    # The fee, asked for from the blocks page (its "Freischalten …" link for 49137).
    link = web.page.locator("main a[href*='/unblock?']", has_text="49137")
    with web.page.expect_navigation():
        link.first.click()
    web.look("fee")
    assert "/web/accounts/acme/unblock?" in web.page.url
    assert "5,00" in web.main_text()  # customer-unblock fee, rules/blocks.toml: 500 cents
    assert _form_fields(web)["fee_cents"] == "500"
    # The same number, shown the same way on every page: +49137.
    assert web.page.inner_text("#unblock-target") == "Rufnummernbereich +49137"

    web.submit(BUTTON["unblock_paid"]["de"], "unblocked")
    charge = web.page.locator("#charge")
    assert charge.is_visible()
    charge_id = charge.get_attribute("data-charge-id")
    assert "5,00" in charge.inner_text()
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d (MEZ|MESZ)", charge.inner_text())
    assert "Rufnummernbereich +49137" in web.page.inner_text("#notice")
    assert "49137" not in web.served.account("acme").blocked_prefixes

    assert _ledger_rows(web, "49137") == 1
    row = web.page.locator("main tr", has_text="49137").inner_text()
    assert "Rufnummernbereich +49137" in row and re.search(r" (MEZ|MESZ)\b", row), row
    (stored,) = _charges_for(web, "49137")
    assert stored.fee_cents == 500
    assert stored.id == charge_id


def test_a_double_click_on_unblock_and_pay_charges_once(web: Web) -> None:
    web.login("admin_a")
    web.goto("/web/accounts/acme/unblock?kind=operator&value=directory", "fee")
    fields = _form_fields(web)
    assert fields["fee_cents"] == "1500"

    web.submit(BUTTON["unblock_paid"]["de"], "after-double-click", double=True)
    assert web.page.locator("#charge").is_visible(), web.main_text()
    charge_id = web.page.get_attribute("#charge", "data-charge-id")

    # Chromium sends a form once however fast it is clicked; a second tab, a slow
    # network's retry or a cached confirm page sends the same form again: replayed.
    web.post_form("/web/accounts/acme/unblock", fields, "resent", 200)
    assert "bereits ausgeführt" in web.main_text()
    assert web.page.get_attribute("#charge", "data-charge-id") == charge_id

    assert [c.id for c in _charges_for(web, "directory")] == [charge_id]
    assert _ledger_rows(web, "directory") == 1


#: Sends the form twice at the same moment from the page (its cookies, same origin).
_POST_TWICE = """async ([action, fields]) => {
  const send = () => fetch(action, {method: 'POST', body: new URLSearchParams(fields)})
    .then(async r => [r.status, await r.text()]);
  return Promise.all([send(), send()]);
}"""


def test_the_same_unblock_sent_twice_at_once_charges_once(web: Web) -> None:
    web.login("admin_a")
    web.goto("/web/accounts/acme/unblock?kind=operator&value=premium-rate", "fee")
    fields = _form_fields(web)
    answers = web.page.evaluate(_POST_TWICE, ["/web/accounts/acme/unblock", fields])
    assert [status for status, _ in answers] == [200, 200], answers
    ids = {m[1] for _, html in answers if (m := re.search(r'data-charge-id="([^"]+)"', html))}
    assert len(ids) == 1, ids  # both show the one charge
    assert sum("bereits ausgeführt" in html for _, html in answers) == 1
    assert [c.id for c in _charges_for(web, "premium-rate")] == list(ids)
    assert _ledger_rows(web, "premium-rate") == 1


def test_reload_after_unblock_replays_instead_of_charging_again(web: Web) -> None:
    web.login("admin_a")
    web.goto("/web/accounts/acme/unblock?kind=operator&value=service-012", "fee")
    web.submit(BUTTON["unblock_paid"]["de"], "unblocked")
    first = web.page.get_attribute("#charge", "data-charge-id")

    # Reload of the answer to a POST sends the POST again (Chromium asks no question
    # under Playwright): the same idempotency key, so the first charge comes back.
    response = web.page.reload()
    assert response is not None and response.status == 200, web.main_text()
    assert response.request.method == "POST"
    web.look("reloaded")
    assert "bereits ausgeführt" in web.main_text()
    assert web.page.get_attribute("#charge", "data-charge-id") == first
    assert [c.id for c in _charges_for(web, "service-012")] == [first]


def test_back_button_and_resubmit_charges_once(web: Web) -> None:
    web.login("admin_a")
    web.goto("/web/accounts/acme/unblock?kind=operator&value=user-groups", "fee")
    fields = _form_fields(web)
    web.submit(BUTTON["unblock_paid"]["de"], "unblocked")
    charge_id = web.page.get_attribute("#charge", "data-charge-id")

    # Back: the confirm page is asked for again (not kept in the cache) and says the
    # block is lifted already; no button to press twice.
    response = web.page.go_back()
    web.look("back")
    assert response is not None and response.status == 409, web.main_text()
    assert web.error() == "not_blocked"
    assert web.page.locator("#confirm").count() == 0
    # German only (not the policy layer's English), and the way back to the blocks page.
    alert = web.page.locator("#error[role=alert]").inner_text()
    assert "gesperrt" in alert and "blocked" not in alert, alert
    back = web.page.get_by_role("link", name="Zurück zu „Sperren“", exact=True)
    assert back.get_attribute("href") == "/web/accounts/acme/blocks"
    assert web.page.get_by_role("link", name="Zur Startseite", exact=True).count() == 1
    # A browser that kept the old confirm page would send its form (same key) again.
    web.post_form("/web/accounts/acme/unblock", fields, "resubmitted", 200)
    assert "bereits ausgeführt" in web.main_text()
    assert web.page.get_attribute("#charge", "data-charge-id") == charge_id

    assert [c.id for c in _charges_for(web, "user-groups")] == [charge_id]
    assert _ledger_rows(web, "user-groups") == 1


def test_two_confirm_pages_with_two_keys_charge_once(web: Web) -> None:
    """Two tabs each with its own confirm page (two keys): the second is refused, because
    the store quotes again inside its transaction and finds the block lifted."""
    web.login("admin_a")
    web.goto("/web/accounts/acme/blocks", "blocks")
    web.page.select_option("#block-kind", "country")
    web.page.fill("#block-value", "44")
    web.submit(BUTTON["add_block"]["de"], "block-added")
    assert "44" in web.served.account("acme").blocked_countries

    other = web.page.context.new_page()
    response = other.goto("/web/accounts/acme/unblock?kind=country&value=44")
    assert response is not None and response.status == 200
    shot(other, f"{web.test}-tab-2-fee")
    axe_check(other)
    web.goto("/web/accounts/acme/unblock?kind=country&value=44", "tab-1-fee")
    assert _form_fields(web)["idempotency_key"] != other.input_value("input[name=idempotency_key]")

    web.submit(BUTTON["unblock_paid"]["de"], "tab-1-unblocked")
    charge_id = web.page.get_attribute("#charge", "data-charge-id")
    with other.expect_navigation() as nav:
        other.click("#confirm")
    assert nav.value is not None and nav.value.status == 409
    shot(other, f"{web.test}-tab-2-refused")
    axe_check(other)
    assert other.get_attribute("main", "data-error") == "not_blocked"

    assert [c.id for c in _charges_for(web, "44")] == [charge_id]
