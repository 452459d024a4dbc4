"""Who may do what in the browser (clause 5.1): employees read, CSRF, one account only."""

from __future__ import annotations

from .conftest import BUTTON, Web

#: Every change form but the header's logout.
CHANGE_FORMS = "form[method=post]:not([action$='/web/logout'])"

#: The account's pages an employee may read.
READABLE = ("", "/blocks", "/charges", "/test?to=015112345678", "/site")


def test_an_employee_reads_every_page_but_has_no_change_control(web: Web) -> None:
    web.login("employee_a")
    assert web.page.url.endswith("/web/accounts/acme"), web.page.url
    for page in READABLE:
        web.goto(f"/web/accounts/acme{page}", f"employee{page or '-overview'}")
        assert web.page.locator(CHANGE_FORMS).count() == 0, f"{page}: a change form"
        for text in ("Sperre hinzufügen", "Standort speichern", "Zugang anlegen"):
            assert web.page.get_by_role("button", name=text).count() == 0, (page, text)
        assert web.page.locator("main a[href*='/unblock?']").count() == 0, page
    web.goto("/web/accounts/acme/users", "employee-users", status=403)
    assert web.error() == "forbidden"


def test_an_employees_forged_posts_are_refused_and_change_nothing(web: Web) -> None:
    web.login("employee_a")
    web.goto("/web/accounts/acme/blocks", "blocks")
    token = web.csrf()  # a valid token: the refusal is the role's, not the token's
    before = web.served.account("acme")
    forged = {
        "/web/accounts/acme/blocks": {"kind": "country", "value": "44"},
        "/web/accounts/acme/unblock": {
            "kind": "operator",
            "value": "premium-rate",
            "fee_cents": "2500",
            "idempotency_key": "forged-by-an-employee",
        },
        "/web/accounts/acme/site": {
            "address": "Alexanderplatz 1, Berlin",
            "municipality": "11000000",
            "area_code": "30",
        },
        "/web/accounts/acme/users": {"login": "mallory", "password": "x" * 16, "role": "admin"},
        "/web/operator/accounts/acme/suspend": {"ground": "security", "note": "forged"},
    }
    for i, (action, fields) in enumerate(forged.items()):
        web.post_form(action, {**fields, "csrf_token": token}, f"forged-{i}", 403)
        assert web.error() == "forbidden", action
    after = web.served.account("acme")
    assert after.version == before.version
    assert not [c for c in web.served.charges("acme") if c.idempotency_key.endswith("employee")]


def test_a_form_without_its_csrf_token_is_refused(web: Web) -> None:
    web.login("admin_a")
    web.goto("/web/accounts/acme/blocks", "blocks")
    before = web.served.account("acme").version
    web.page.select_option("#block-kind", "country")
    web.page.fill("#block-value", "44")
    web.page.evaluate(
        "document.querySelectorAll('main form input[name=csrf_token]').forEach(i => i.remove())"
    )
    web.submit(BUTTON["add_block"]["de"], "no-token", 403)
    assert web.error() == "csrf"
    web.goto("/web/accounts/acme/blocks", "blocks-again")
    web.page.select_option("#block-kind", "country")
    web.page.fill("#block-value", "44")
    web.page.eval_on_selector_all(
        "main form input[name=csrf_token]", "inputs => inputs.forEach(i => i.value = 'x' + i.value)"
    )
    web.submit(BUTTON["add_block"]["de"], "wrong-token", 403)
    assert web.error() == "csrf"
    assert web.served.account("acme").version == before


def test_the_login_form_without_its_csrf_token_is_refused(web: Web) -> None:
    admin = web.served.logins["admin_a"]
    web.goto("/web/login", "login")
    web.post_form("/web/login", {"login": admin.login, "password": admin.password}, "no-token", 403)
    assert web.error() == "csrf"
    assert not [c for c in web.page.context.cookies() if c["name"] == "cp_session"]


#: Every account page by URL (GET), for the isolation check.
ACCOUNT_PAGES = (
    "",
    "/blocks",
    "/unblock?kind=operator&value=directory",
    "/charges",
    "/test?to=015112345678",
    "/site",
    "/users",
)


def test_an_account_cannot_reach_another_accounts_pages_by_url(web: Web) -> None:
    web.login("admin_a")
    web.goto("/web/accounts/no-such-account", "missing", status=404)
    missing = web.main_text().replace("no-such-account", "ID")
    for page in ACCOUNT_PAGES:
        web.goto(f"/web/accounts/bravo{page}", f"bravo{page.split('?')[0]}", status=404)
        assert web.error() == "not_found", page
        assert "Bravo KG" not in web.main_text()
    # The same page as an account that does not exist: the URL tells nothing.
    web.goto("/web/accounts/bravo", "bravo-again", status=404)
    assert web.main_text().replace("bravo", "ID") == missing
    csv = web.page.request.get("/web/accounts/bravo/charges.csv")
    assert csv.status == 404

    token = web.csrf()
    before = web.served.account("bravo").version
    web.post_form(
        "/web/accounts/bravo/blocks",
        {"kind": "country", "value": "44", "csrf_token": token},
        "bravo-post",
        404,
    )
    assert web.error() == "not_found"
    assert web.served.account("bravo").version == before
