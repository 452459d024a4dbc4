"""The Telefonie-Konto's pages (clause 5.1): blocks, paid unblocks charged once, charges,
the site, test a number, users; employees read only; other accounts are 404."""

from __future__ import annotations

import csv
import html
import io
import re

import pytest

from policy import BlockTarget, Snapshot

from ._webclient import Web, error_of, idempotency_key_of
from .conftest import NOW

ACCOUNT_PAGES = [
    "/web/accounts/{a}",
    "/web/accounts/{a}/blocks",
    "/web/accounts/{a}/charges",
    "/web/accounts/{a}/charges.csv",
    "/web/accounts/{a}/test?to=030123",
    "/web/accounts/{a}/site",
    "/web/accounts/{a}/users",
    "/web/accounts/{a}/unblock?kind=operator&value=premium-rate",
]
ACCOUNT_FORMS = [
    ("/web/accounts/{a}/blocks", {"kind": "prefix", "value": "0190"}),
    (
        "/web/accounts/{a}/unblock",
        {
            "kind": "operator",
            "value": "premium-rate",
            "fee_cents": "2500",
            "idempotency_key": "web-k1",
        },
    ),
    ("/web/accounts/{a}/site", {"address": "Alexanderplatz 1", "municipality": "11000000"}),
    ("/web/accounts/{a}/users", {"login": "new-one", "password": "a long password"}),
    ("/web/accounts/{a}/users/{a}-employee/disable", {}),
    ("/web/accounts/{a}/users/{a}-employee/password", {"password": "a long password"}),
    ("/web/operator/accounts/{a}/suspend", {"ground": "security"}),
    ("/web/operator/accounts/{a}/numbers", {"first": "+49301234560"}),
]


def _quote(web: Web, value: str = "premium-rate", kind: str = "operator") -> str:
    page = web.get(f"/web/accounts/acme/unblock?kind={kind}&value={value}")
    assert page.status_code == 200, page.text
    return page.text


def _confirm(web: Web, html: str) -> dict[str, str]:
    return {
        name: re.search(rf'name="{name}" value="([^"]*)"', html).group(1)  # type: ignore[union-attr]
        for name in ("kind", "value", "fee_cents", "idempotency_key")
    }


def test_the_overview_shows_numbers_main_number_site_and_status(web: Web) -> None:
    page = web.as_("employee_a").get("/web/accounts/acme").text
    assert "ACME GmbH" in page
    assert '+49301234567 <span class="badge">Stammrufnummer</span>' in page
    assert "+4930777700 – +4930777799" in page
    assert "bestellt" in page and "aktiv" in page
    assert "Unter den Linden 1, Berlin" in page
    assert '<dd id="suspension">' in page and "möglich" in page
    assert '<dd id="dialer">unauffällig</dd>' in page


def test_an_admin_blocks_a_range_at_once(web: Web) -> None:
    web.as_("admin_a")
    r = web.post("/web/accounts/acme/blocks", {"kind": "prefix", "value": "0190"})
    assert r.status_code == 303
    assert r.headers["location"] == "/web/accounts/acme/blocks?done=block_added"
    page = web.get(r.headers["location"]).text
    assert 'id="notice" role="status"' in page
    assert "+49190" in page
    assert web.store.get_account("acme").blocked_prefixes == ("49190",)  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("form", "code"),
    [
        ({"kind": "bogus", "value": "1"}, "invalid_target"),
        ({"kind": "prefix", "value": "abc"}, "invalid_target"),
        ({"kind": "country", "value": "999"}, "invalid_target"),
        ({"kind": "category", "value": "nope"}, "invalid_target"),
        ({"kind": "prefix", "value": "1" * 65}, "invalid_form"),
        ({}, "invalid_target"),
    ],
)
def test_bad_block_input_is_a_400_page(web: Web, form: dict[str, str], code: str) -> None:
    web.as_("admin_a")
    r = web.post("/web/accounts/acme/blocks", form)
    assert r.status_code == 400
    assert error_of(r.text) == code
    assert 'role="alert"' in r.text


def test_the_fee_is_shown_confirmed_and_charged_once(web: Web) -> None:
    web.as_("admin_a")
    html = _quote(web)
    assert 'data-fee-cents="2500"' in html and "25,00 €" in html
    assert ">Zahlungspflichtig freischalten</button>" in html
    assert web.store.charges("acme") == []  # asking costs nothing
    form = _confirm(web, html)
    first = web.post("/web/accounts/acme/unblock", form)
    assert first.status_code == 200
    charge = web.store.charges("acme")
    assert len(charge) == 1 and charge[0].fee_cents == 2500
    assert f'data-charge-id="{charge[0].id}"' in first.text
    assert "premium-rate" in web.store.get_account("acme").lifted  # type: ignore[union-attr]
    assert charge[0].id in web.get("/web/accounts/acme/charges").text  # at once
    # A double click, or the back button's resubmit: the same key replays.
    again = web.post("/web/accounts/acme/unblock", form)
    assert again.status_code == 200
    assert "bereits ausgeführt" in again.text
    assert f'data-charge-id="{charge[0].id}"' in again.text
    assert len(web.store.charges("acme")) == 1
    # A fresh quote page now: nothing to lift, nothing to charge.
    assert web.get("/web/accounts/acme/unblock?kind=operator&value=premium-rate").status_code == 409
    fresh = web.post("/web/accounts/acme/unblock", {**form, "idempotency_key": "web-other"})
    assert fresh.status_code == 409
    assert error_of(fresh.text) == "not_blocked"
    assert len(web.store.charges("acme")) == 1


def test_each_confirm_page_has_its_own_key(web: Web) -> None:
    web.as_("admin_a")
    assert idempotency_key_of(_quote(web)) != idempotency_key_of(_quote(web))


def test_an_unblock_for_another_fee_than_confirmed_is_refused(web: Web) -> None:
    web.as_("admin_a")
    form = {**_confirm(web, _quote(web)), "fee_cents": "100"}
    r = web.post("/web/accounts/acme/unblock", form)
    assert r.status_code == 409
    assert error_of(r.text) == "quote_changed"
    assert web.store.charges("acme") == []


@pytest.mark.parametrize(
    "bad",
    [{"fee_cents": "x"}, {"idempotency_key": ""}, {"idempotency_key": "with space"}, {"kind": "z"}],
)
def test_a_malformed_confirm_form_is_400(web: Web, bad: dict[str, str]) -> None:
    web.as_("admin_a")
    r = web.post("/web/accounts/acme/unblock", {**_confirm(web, _quote(web)), **bad})
    assert r.status_code == 400
    assert web.store.charges("acme") == []


def test_lifting_an_own_block_costs_the_customer_fee(web: Web) -> None:
    web.as_("admin_a")
    web.post("/web/accounts/acme/blocks", {"kind": "country", "value": "44"})
    html = _quote(web, "44", "country")
    assert "5,00 €" in html
    r = web.post("/web/accounts/acme/unblock", _confirm(web, html))
    assert r.status_code == 200
    assert web.store.get_account("acme").blocked_countries == ()  # type: ignore[union-attr]
    assert [c.fee_cents for c in web.store.charges("acme")] == [500]


def _ledger(web: Web, n: int) -> None:
    for i in range(n):
        web.store.unblock(
            "acme",
            BlockTarget("operator", "premium-rate"),
            100 + i,
            "premium-rate",
            f"k{i}",
            f"h{i}",
            lambda a: a,
            NOW + i,
        )


def test_charges_are_paged_and_exported(web: Web) -> None:
    _ledger(web, 25)
    web.as_("employee_a")
    first = web.get("/web/accounts/acme/charges").text
    assert first.count("<tr data-charge-id=") == 20
    assert 'href="/web/accounts/acme/charges?since=20&amp;limit=20">Weiter</a>' in first
    second = web.get("/web/accounts/acme/charges?since=20").text
    assert second.count("<tr data-charge-id=") == 5
    assert "Weiter</a>" not in second
    assert "1,24 €" in second  # the last: 124 cents
    r = web.get("/web/accounts/acme/charges.csv")
    assert r.headers["content-type"].startswith("text/csv")
    assert "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == 25
    assert rows[0]["fee_cents"] == "100" and rows[0]["target"] == "operator:premium-rate"
    assert rows[0]["created_at"] == "2026-01-01T00:00:00Z"  # machines: ISO 8601, UTC
    # People: Berlin time with its zone (NOW is 00:00 UTC = 01:00 MEZ).
    assert "<td>2026-01-01 01:00 MEZ</td>" in first and "UTC" not in first
    english = web.get("/web/accounts/acme/charges?lang=en").text
    assert "<td>2026-01-01 01:00 CET</td>" in english


@pytest.mark.parametrize("query", ["limit=0", "since=-1", "limit=x", "limit=5000"])
def test_bad_paging_is_a_400_page(web: Web, query: str) -> None:
    web.as_("admin_a")
    r = web.get(f"/web/accounts/acme/charges?{query}")
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("text/html")


def test_test_a_number_shows_the_decision_the_reason_and_the_rule(web: Web) -> None:
    web.as_("employee_a")
    page = web.get("/web/accounts/acme/test?to=09001123456").text
    assert 'data-verdict="block"' in page
    # The reason in words, its code beside it for operators.
    assert '<dd id="reason">Premium-Dienst <code class="code">premium_rate</code></dd>' in page
    assert re.search(r'<dd id="rule">premium-rate \(blocks\.toml:\d+\)</dd>', page)
    assert '<dd id="number">+499001123456</dd>' in page
    assert "Geprüfte Regeln" in page
    assert _step(page, "operator_default_block") == (
        "Freischaltbare Sperre des Betreibers",
        "entschieden",
        "Sperre premium-rate",
    )
    assert _step(page, "allow")[1:] == ("nicht erreicht", "Nichts sperrt diese Rufnummer.")
    allowed = web.get("/web/accounts/acme/test?to=030555000&lang=en").text
    assert 'data-verdict="allow"' in allowed and "allowed" in allowed
    assert _step(allowed, "customer_block") == (
        "Your blocks",
        "not applicable",
        "You block nothing here.",
    )


def _step(page: str, code: str) -> tuple[str, str, str]:
    """(name, outcome, note) of the row of step ``code`` on "test a number"."""
    row = re.search(
        rf'<tr data-step="{code}"><th scope="row">([^<]*) <code class="code">{code}</code></th>'
        r"<td>([^<]*)</td><td>([^<]*)</td>",
        page,
    )
    assert row, f"no step {code}"
    return html.unescape(row[1]), html.unescape(row[2]), html.unescape(row[3])


#: The notes ``policy.explain`` writes (English, for the API): never on a German page.
ENGLISH_NOTES = (
    "the account is not suspended",
    "the account blocks nothing here",
    "blocked by the account",
    "nothing blocks it",
    "digits, category allows",
    "not a callable number",
    "lifted=",
    "category ",
)


@pytest.mark.parametrize(
    "dial",
    ["09001123456", "030555000", "112", "0190123", "abc", "0044201234567", "11833", "01805123456"],
)
def test_test_a_number_says_every_step_and_reason_in_german(web: Web, dial: str) -> None:
    web.as_("admin_a")
    web.post("/web/accounts/acme/blocks", {"kind": "country", "value": "44"})
    page = web.get(f"/web/accounts/acme/test?to={dial}").text
    main = page.split("<main", 1)[1]
    for english in ENGLISH_NOTES:
        assert english not in main, (dial, english)
    codes = re.findall(r'<tr data-step="([a-z_]+)">', page)
    assert codes, dial
    for code in codes:
        name, _outcome, note = _step(page, code)
        assert name != "Schritt", f"step {code} has no text"  # not the fallback
        assert note, (dial, code)
    reason = re.search(r'<dd id="reason">([^<]*) <code class="code">([a-z_]+)</code>', page)
    assert reason and reason[1] != "anderer Grund", (dial, reason)


def test_every_reason_the_rules_can_give_has_a_text_in_both_languages(snapshot: Snapshot) -> None:
    from policy.compiler.engine import _CALL_ACTIONS
    from policy.percall import numbers
    from policy.percall.reasons import SIP_ANSWERS
    from server.web.i18n import CATALOGUES

    rules = snapshot.rules
    reasons = {b.reason for b in rules.blocks.block}
    reasons |= {c.reject_reason for c in rules.plan.category if c.reject_reason}
    reasons |= {r for _, r, _ in _CALL_ACTIONS.values() if not r.startswith("m.")}
    reasons |= {numbers._INVALID, numbers._INCOMPLETE, numbers._CARRIER}
    reasons |= set(SIP_ANSWERS)  # the edge's own refusals (decision log, API)
    reasons |= {"country_blocked", "operator_block"}  # the examples in rules/blocks.toml
    for lang, catalogue in CATALOGUES.items():
        missing = sorted(r for r in reasons if f"reason.{r}" not in catalogue)
        assert not missing, (lang, missing)


def test_every_refusal_code_of_the_policy_layer_has_a_text_in_both_languages() -> None:
    from policy.errors import REQUEST_CODES
    from server.web.i18n import CATALOGUES

    codes = set().union(*REQUEST_CODES.values())
    for lang, catalogue in CATALOGUES.items():
        missing = sorted(c for c in codes if f"err.{c}" not in catalogue)
        assert not missing, (lang, missing)
        for code in codes:  # no placeholder the refusal cannot fill
            catalogue[f"err.{code}"].format(code=code)


def test_a_code_without_a_text_gets_the_generic_one_naming_it() -> None:
    from server.web.i18n import text_or

    assert text_or("de", "err.brand_new", "err.other", code="brand_new") == (
        "Der Vorgang ist nicht möglich (Code brand_new)."
    )
    assert text_or("en", "err.brand_new", "err.other", code="brand_new") == (
        "This is not possible (code brand_new)."
    )


def test_a_move_inside_the_ortsnetz_is_saved_and_outside_explained(web: Web) -> None:
    web.as_("admin_a")
    r = web.post(
        "/web/accounts/acme/site", {"address": "Alexanderplatz 1", "municipality": "11000000"}
    )
    assert r.status_code == 200
    assert 'id="notice"' in r.text
    assert web.store.get_account("acme").site.address == "Alexanderplatz 1"  # type: ignore[union-attr]
    hamburg = {"address": "Jungfernstieg 1", "municipality": "02000000", "area_code": "040"}
    r = web.post("/web/accounts/acme/site", hamburg)
    assert r.status_code == 409
    assert error_of(r.text) == "move_outside_local_network"
    assert "Ziffer 10" in r.text and "neue Rufnummern" in r.text
    assert web.store.get_account("acme").site.address == "Alexanderplatz 1"  # type: ignore[union-attr]
    r = web.post("/web/accounts/acme/site", {"address": "x", "municipality": "99999999"})
    assert r.status_code == 400
    assert error_of(r.text) == "unknown_municipality"


def test_the_published_list_needs_no_login(web: Web) -> None:
    page = web.get("/web/operator-blocks")
    assert page.status_code == 200
    assert "premium-rate" in page.text and "/v1/operator-blocks?format=csv" in page.text
    # Numbers as on every page (E.164), reasons in words with their code.
    assert '<th scope="row">+499001</th>' in page.text
    assert ">09001<" not in page.text and "0181" not in page.text
    assert 'Premium-Dienst <code class="code">premium_rate</code>' in page.text


def test_an_employee_sees_no_controls_and_every_change_is_refused(web: Web) -> None:
    web.as_("employee_a")
    for path in (
        "/web/accounts/acme",
        "/web/accounts/acme/blocks",
        "/web/accounts/acme/site",
        "/web/accounts/acme/charges",
        "/web/accounts/acme/test",
    ):
        page = web.get(path)
        assert page.status_code == 200
        forms = re.findall(r'<form method="post" action="([^"]+)"', page.text)
        assert forms == ["/web/logout"], (path, forms)
        assert "Freischalten …" not in page.text
    assert web.get("/web/accounts/acme/users").status_code == 403
    assert web.get("/web/accounts/acme/unblock?kind=operator&value=premium-rate").status_code == 403
    before = web.store.get_account("acme")
    for path, form in ACCOUNT_FORMS:
        r = web.post(path.format(a="acme"), form)
        assert r.status_code == 403, path
        assert error_of(r.text) == "forbidden"
    assert web.store.get_account("acme") == before
    assert web.store.charges("acme") == []


def test_another_accounts_pages_are_404_as_a_missing_accounts(web: Web) -> None:
    web.as_("admin_a")
    for path in ACCOUNT_PAGES:
        other = web.get(path.format(a="bravo"))
        missing = web.get(path.format(a="nosuch"))
        assert other.status_code == missing.status_code == 404, path
        assert error_of(other.text) == "not_found"
        assert other.text.replace("bravo", "X") == missing.text.replace("nosuch", "X")
    before = web.store.get_account("bravo")
    for path, form in ACCOUNT_FORMS:
        r = web.post(path.format(a="bravo"), form)
        assert r.status_code == 404, path
    assert web.store.get_account("bravo") == before


def test_an_admin_manages_its_employees_logins(web: Web) -> None:
    web.as_("admin_a")
    page = web.get("/web/accounts/acme/users").text
    assert 'data-login="acme-admin"' in page and 'data-login="acme-employee"' in page
    assert '<option value="admin">' not in page  # admins create employees only
    r = web.post(
        "/web/accounts/acme/users",
        {"login": "Emma", "password": "emmas password", "role": "employee"},
    )
    assert r.status_code == 303
    assert web.store.get_user("emma").account == "acme"  # type: ignore[union-attr]
    r = web.post("/web/accounts/acme/users", {"login": "emma", "password": "emmas password"})
    assert r.status_code == 409 and error_of(r.text) == "user_exists"
    r = web.post(
        "/web/accounts/acme/users",
        {"login": "boss", "password": "a long password", "role": "admin"},
    )
    assert r.status_code == 400
    r = web.post("/web/accounts/acme/users", {"login": "shorty", "password": "short"})
    assert r.status_code == 400 and error_of(r.text) == "invalid_password"
    # Admins manage employees, not admins (themselves included).
    assert web.post("/web/accounts/acme/users/acme-admin/disable").status_code == 403
    assert web.post("/web/accounts/acme/users/bravo-employee/disable").status_code == 404


def test_disabling_a_login_ends_its_sessions(web: Web) -> None:
    web.as_("employee_a")
    employee_cookie = web.client.cookies["cp_session"]
    web.as_("admin_a")
    assert web.post("/web/accounts/acme/users/acme-employee/disable").status_code == 303
    web.client.cookies.set("cp_session", employee_cookie)
    assert web.get("/web/accounts/acme").status_code == 303  # to the login
    assert web.login("employee_a").status_code == 403
    web.as_("admin_a")
    assert web.post("/web/accounts/acme/users/acme-employee/enable").status_code == 303
    assert web.login("employee_a").status_code == 303


def test_a_new_password_replaces_the_old_and_ends_sessions(web: Web) -> None:
    web.as_("employee_a")
    employee_cookie = web.client.cookies["cp_session"]
    web.as_("admin_a")
    r = web.post(
        "/web/accounts/acme/users/acme-employee/password", {"password": "brand new secret"}
    )
    assert r.status_code == 303
    web.client.cookies.set("cp_session", employee_cookie)
    assert web.get("/web/accounts/acme").status_code == 303
    assert web.login("employee_a").status_code == 401
    assert web.login("employee_a", password="brand new secret").status_code == 303


def test_web_pages_are_not_in_the_openapi_document(web: Web) -> None:
    doc = web.client.get("/schema/openapi.json").json()
    assert not [p for p in doc["paths"] if p.startswith("/web")]


def test_every_page_has_one_h1_a_skip_link_and_labelled_controls(web: Web) -> None:
    web.as_("operator")
    for path in [p.format(a="acme") for p in ACCOUNT_PAGES if "csv" not in p] + ["/web/operator"]:
        html = web.get(path).text
        assert html.count("<h1>") == 1, path
        assert '<a class="skip" href="#main">' in html
        ids = re.findall(r'<(?:input|select)(?![^>]*type="hidden")[^>]*\bid="([^"]+)"', html)
        controls = re.findall(r"<(?:input|select)(?![^>]*type=\"hidden\")[^>]*>", html)
        assert len(ids) == len(controls), path
        for control_id in ids:
            assert f'<label for="{control_id}">' in html, (path, control_id)


def test_both_catalogues_have_the_same_texts() -> None:
    from server.web.i18n import CATALOGUES

    assert set(CATALOGUES["de"]) == set(CATALOGUES["en"])


@pytest.mark.parametrize("lang", ["de", "en"])
@pytest.mark.parametrize("who", ["operator", "admin_a", "employee_a"])
def test_every_page_renders_in_both_languages(web: Web, who: str, lang: str) -> None:
    _ledger(web, 1)
    web.as_(who)
    web.get(f"/web/login?lang={lang}")
    for path in [p.format(a="acme") for p in ACCOUNT_PAGES] + [
        "/web/operator",
        "/web/operator-blocks",
    ]:
        r = web.get(path)
        assert r.status_code in (200, 403), (path, r.status_code)
        if r.headers["content-type"].startswith("text/html"):
            assert f'<html lang="{lang}">' in r.text


def _alert(page: str) -> str:
    """The text of the page's ``role="alert"`` message."""
    found = re.search(r'<p id="error" role="alert">([^<]*)</p>', page)
    assert found, "no alert on the page"
    return html.unescape(found.group(1))


def _links(page: str) -> list[tuple[str, str]]:
    """(href, text) of the links an error page offers under its message."""
    block = re.search(r'<ul class="links" id="error-links">(.*?)</ul>', page, re.S)
    assert block, "no links on the error page"
    return [
        (h, html.unescape(t)) for h, t in re.findall(r'<a href="([^"]+)">([^<]+)</a>', block[1])
    ]


def test_a_refusal_shows_only_the_translated_text_and_links_back(web: Web) -> None:
    from server.web._texts_de import DE
    from server.web._texts_en import EN

    web.as_("admin_a")
    web.post("/web/accounts/acme/unblock", _confirm(web, _quote(web)))  # lifted and charged
    again = web.get("/web/accounts/acme/unblock?kind=operator&value=premium-rate")
    assert again.status_code == 409 and error_of(again.text) == "not_blocked"
    # Only the catalogue's German text: not the policy layer's English message with it.
    assert _alert(again.text) == DE["err.not_blocked"]
    assert "is not blocked" not in again.text and "'premium-rate'" not in again.text
    # Back to the blocks page it came from, and the start page.
    assert _links(again.text) == [
        ("/web/accounts/acme/blocks", "Zurück zu „Sperren“"),
        ("/web/", "Zur Startseite"),
    ]
    english = web.get("/web/accounts/acme/unblock?kind=operator&value=premium-rate&lang=en")
    assert _alert(english.text) == EN["err.not_blocked"]
    assert _links(english.text)[0] == ("/web/accounts/acme/blocks", "Back to “Blocks”")


@pytest.mark.parametrize(
    ("who", "path", "form", "code"),
    [
        (
            "admin_a",
            "/web/accounts/acme/blocks",
            {"kind": "prefix", "value": "abc"},
            "invalid_target",
        ),
        (
            "admin_a",
            "/web/accounts/acme/site",
            {"address": "Jungfernstieg 1", "municipality": "02000000", "area_code": "040"},
            "move_outside_local_network",
        ),
        (
            "admin_a",
            "/web/accounts/acme/users",
            {"login": "x", "password": "a long password"},
            "invalid_login",
        ),
        (
            "operator",
            "/web/operator/accounts/acme/numbers",
            {"first": "+49407654321"},
            "number_taken",
        ),
        (
            "operator",
            "/web/operator/accounts/acme/numbers",
            {"first": "not a number"},
            "invalid_number",
        ),
        ("operator", "/web/operator/accounts/acme/numbers/nosuch/activate", {}, "unknown_holding"),
        ("operator", "/web/operator/accounts/acme/resume", {}, "not_suspended"),
        (
            "admin_a",
            "/web/accounts/acme/blocks",
            {"kind": "prefix", "value": "1" * 65},
            "invalid_form",
        ),
    ],
)
def test_a_german_refusal_has_no_english_message(
    web: Web, who: str, path: str, form: dict[str, str], code: str
) -> None:
    from server.web._texts_de import DE

    web.as_(who)
    r = web.post(path, form)
    assert r.status_code in (400, 404, 409), r.text
    assert error_of(r.text) == code
    alert = _alert(r.text)
    key = "err.too_long" if code == "invalid_form" else f"err.{code}"
    assert alert == DE[key].format(limit=64), alert  # the German text, nothing besides


def test_an_error_page_under_an_account_links_back_into_it(web: Web) -> None:
    web.as_("employee_a")
    users = web.get("/web/accounts/acme/users")  # employees: 403
    assert users.status_code == 403
    assert _links(users.text)[0] == ("/web/accounts/acme", "Zurück zu „Übersicht“")
    bad = web.get("/web/accounts/acme/charges?limit=0")
    assert bad.status_code == 400
    assert _links(bad.text)[0] == ("/web/accounts/acme/charges", "Zurück zu „Gebühren“")
    # Another account's page links into nothing of it (404 as a missing account).
    other = web.get("/web/accounts/bravo/blocks")
    assert _links(other.text) == [("/web/", "Zur Startseite")]


@pytest.mark.parametrize(
    "path", ["/web/nope", "/web/accounts/acme/nope", "/web/accounts/acme/blocks/x"]
)
def test_an_unknown_web_url_is_the_html_404_page_in_the_users_language(web: Web, path: str) -> None:
    r = web.get(path)
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("text/html")
    assert '<html lang="de">' in r.text and "<h1>Nicht gefunden</h1>" in r.text
    assert _alert(r.text) == "Diese Seite gibt es nicht."
    assert '<a class="skip" href="#main">' in r.text and "/web/static/web.css" in r.text
    assert r.headers["cache-control"] == "no-store"
    web.as_("admin_a")
    web.get("/web/login?lang=en")  # remembered in the cookie
    english = web.get(path)
    assert english.status_code == 404 and '<html lang="en">' in english.text
    assert _alert(english.text) == "There is no such page."
    assert "acme-admin" in english.text  # the standard layout, logged in


def test_an_unknown_api_url_keeps_the_json_error(web: Web) -> None:
    r = web.get("/v1/nope")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/json")
    assert r.json()["code"] == "not_found"


def test_numbers_are_shown_in_one_form_everywhere(web: Web) -> None:
    web.as_("admin_a")
    web.post("/web/accounts/acme/blocks", {"kind": "prefix", "value": "0137"})
    blocks = web.get("/web/accounts/acme/blocks").text
    assert '<th scope="row">+49137</th>' in blocks
    quote = _quote(web, "49137", "prefix")
    assert '<dd id="unblock-target">Rufnummernbereich +49137</dd>' in quote
    done = web.post("/web/accounts/acme/unblock", _confirm(web, quote)).text
    assert "Freigeschaltet: Rufnummernbereich +49137." in done
    charges = web.get("/web/accounts/acme/charges").text
    assert "<td>Rufnummernbereich +49137</td>" in charges
    assert "Rufnummernbereich 49137" not in blocks + quote + done + charges
    overview = web.get("/web/accounts/acme").text
    assert '<dd id="npn">+49301234567</dd>' in overview


def test_when_is_berlin_time_with_the_zone_in_each_language() -> None:
    from server.web.i18n import when

    assert when(NOW) == "2026-01-01 01:00 MEZ"
    assert when(NOW, "en") == "2026-01-01 01:00 CET"
    summer = 1_782_907_200.0  # 2026-07-01T12:00:00Z
    assert when(summer) == "2026-07-01 14:00 MESZ"
    assert when(summer, "en") == "2026-07-01 14:00 CEST"


def test_every_table_scrolls_in_a_focusable_labelled_region(web: Web) -> None:
    _ledger(web, 1)
    web.as_("operator")
    web.post("/web/accounts/acme/blocks", {"kind": "country", "value": "44"})
    for path in [p.format(a="acme") for p in ACCOUNT_PAGES if "csv" not in p] + [
        "/web/operator",
        "/web/operator-blocks",
        "/web/accounts/acme/test?to=09001123456",
    ]:
        page = web.get(path).text
        tables = page.count("<table")
        regions = re.findall(
            r'<div class="scroll" role="region" tabindex="0" aria-label="[^"]+"[^>]*>\s*<table',
            page,
        )
        assert len(regions) == tables, (path, tables, len(regions))


def test_the_main_number_badge_is_a_label_not_a_control(web: Web) -> None:
    web.as_("admin_a")
    page = web.get("/web/accounts/acme").text
    assert '+49301234567 <span class="badge">Stammrufnummer</span>' in page
    css = web.get("/web/static/web.css").text
    badge = re.search(r"\.badge \{([^}]*)\}", css)
    assert badge and "border:" not in badge[1] and "cursor: default" in badge[1]
