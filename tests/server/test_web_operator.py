"""The operator's pages: find an account, suspend and resume it, assign and activate
numbers with the Ortsnetz proof, set the main number, the nodes' rules status."""

from __future__ import annotations

import re

from policy import NodeStatusV1

from ._webclient import Web, error_of
from .conftest import NOW


def test_the_operator_starts_on_its_page_and_finds_accounts(web: Web) -> None:
    web.as_("operator")
    assert web.get("/web/").headers["location"] == "/web/operator"
    page = web.get("/web/operator?q=bravo kg").text
    assert '<a href="/web/accounts/bravo">bravo</a> – Bravo KG' in page
    assert "/web/accounts/acme" not in re.sub(r"<header>.*</header>", "", page, flags=re.S)
    assert "Kein Konto gefunden." in web.get("/web/operator?q=zzz").text


def test_the_nodes_rules_status_is_shown(web: Web) -> None:
    web.store.report_node(
        NodeStatusV1(
            node="edge-1",
            kind="edge",
            revision="abc123",
            state="WARN",
            reload_error="blocks.toml:3: boom",
            seen_at=NOW - 100,
        )
    )
    web.as_("operator")
    page = web.get("/web/operator").text
    assert "edge-1" in page and "blocks.toml:3: boom" in page
    assert "anderer Stand" in page and "meldet sich nicht" in page


def test_customers_get_403_on_the_operator_page(web: Web) -> None:
    web.as_("admin_a")
    r = web.get("/web/operator")
    assert r.status_code == 403
    assert error_of(r.text) == "forbidden"


def test_suspend_and_resume(web: Web) -> None:
    web.as_("operator")
    r = web.post(
        "/web/operator/accounts/acme/suspend", {"ground": "fraud_suspected", "note": "case 7"}
    )
    assert r.status_code == 303
    assert r.headers["location"] == "/web/accounts/acme?done=suspended"
    page = web.get(r.headers["location"]).text
    assert "Betrugsverdacht (case 7)" in page
    # The button said "Aussetzen": the notice and the status say "ausgesetzt", not "gesperrt".
    notice = re.search(r'<p id="notice" role="status">([^<]*)</p>', page)
    assert notice and "ausgesetzt" in notice.group(1), page
    assert "gesperrt" not in page.split("<main")[1]
    assert "<strong>ausgesetzt</strong>" in page
    assert "seit 2026-01-01 01:00 MEZ" in page  # Berlin time, not UTC
    suspension = web.store.get_account("acme").suspension  # type: ignore[union-attr]
    assert suspension is not None and suspension.by == "web:operator"
    again = web.post("/web/operator/accounts/acme/suspend", {"ground": "security"})
    assert again.status_code == 409 and error_of(again.text) == "already_suspended"
    bad = web.post("/web/operator/accounts/bravo/suspend", {"ground": "because"})
    assert bad.status_code == 400
    resumed = web.post("/web/operator/accounts/acme/resume")
    assert resumed.status_code == 303
    notice = re.search(
        r'<p id="notice" role="status">([^<]*)</p>', web.get(resumed.headers["location"]).text
    )
    assert notice and "Aussetzung ist aufgehoben" in notice.group(
        1
    )  # button: "Aussetzung aufheben"
    assert web.store.get_account("acme").suspension is None  # type: ignore[union-attr]
    web.as_("employee_a")
    assert "gesperrt" not in web.get("/web/accounts/acme").text.split("<main")[1]


def test_assign_and_activate_with_the_proof(web: Web) -> None:
    web.as_("operator")
    r = web.post("/web/operator/accounts/acme/numbers", {"first": "+49 30 1234 5560", "last": ""})
    assert r.status_code == 303, r.text
    holding = next(h for h in web.store.get_account("acme").holdings if h.first == "493012345560")  # type: ignore[union-attr]
    assert holding.state == "ordered"
    no_proof = web.post(f"/web/operator/accounts/acme/numbers/{holding.id}/activate", {})
    assert no_proof.status_code == 409
    assert error_of(no_proof.text) == "proof_required"
    r = web.post(
        f"/web/operator/accounts/acme/numbers/{holding.id}/activate",
        {"proof_kind": "handelsregister", "proof_reference": "HRB 1"},
    )
    assert r.status_code == 303, r.text
    active = next(h for h in web.store.get_account("acme").holdings if h.id == holding.id)  # type: ignore[union-attr]
    assert active.state == "active" and active.proof is not None
    assert active.proof.reference == "HRB 1"
    r = web.post("/web/operator/accounts/acme/npn", {"number": f"+{holding.first}"})
    assert r.status_code == 303
    assert web.store.get_account("acme").npn == holding.first  # type: ignore[union-attr]


def test_a_number_of_another_account_is_not_assigned(web: Web) -> None:
    web.as_("operator")
    r = web.post("/web/operator/accounts/acme/numbers", {"first": "+49407654321"})
    assert r.status_code == 409
    assert error_of(r.text) == "number_taken"
    r = web.post("/web/operator/accounts/acme/numbers", {"first": "not a number"})
    assert r.status_code == 400


def test_the_overview_shows_operator_controls_to_operators_only(web: Web) -> None:
    web.as_("operator")
    page = web.get("/web/accounts/acme").text
    for action in ("/suspend", "/numbers", "/npn", "/numbers/49301234569/activate"):
        assert f'action="/web/operator/accounts/acme{action}"' in page
    web.as_("admin_a")
    assert "/web/operator/accounts" not in web.get("/web/accounts/acme").text


def test_customers_cannot_operate(web: Web) -> None:
    web.as_("admin_a")
    own = web.post("/web/operator/accounts/acme/suspend", {"ground": "security"})
    assert own.status_code == 403
    other = web.post("/web/operator/accounts/bravo/suspend", {"ground": "security"})
    assert other.status_code == 404
    assert web.store.get_account("acme").suspension is None  # type: ignore[union-attr]


def test_an_operator_creates_an_accounts_admin(web: Web) -> None:
    web.as_("operator")
    page = web.get("/web/accounts/bravo/users").text
    assert '<option value="admin">' in page
    r = web.post(
        "/web/accounts/bravo/users",
        {"login": "bravo-boss", "password": "a long password", "role": "admin"},
    )
    assert r.status_code == 303
    user = web.store.get_user("bravo-boss")
    assert user is not None and user.role == "admin" and user.created_by == "operator"
