"""Accounts, numbers and sites (server/routes/accounts.py)."""

from __future__ import annotations

from .conftest import NOW, Api


def test_list_accounts(api: Api) -> None:
    r = api.client.get("/v1/accounts", headers=api.h("operator"))
    assert r.status_code == 200
    assert r.json() == {"accounts": ["acme", "bravo"]}


def test_create_account_starts_without_numbers(api: Api) -> None:
    r = api.client.post(
        "/v1/accounts", json={"id": "carl", "name": "Carl"}, headers=api.h("operator")
    )
    assert r.status_code == 201, r.text
    got = r.json()
    assert (got["npn"], got["holdings"], got["version"]) == ("", [], 1)
    # The store emitted the change event (the change feed of the edge).
    assert api.store.changes_since(0)[-1].account == "carl"


def test_create_account_taken_id_is_409(api: Api) -> None:
    r = api.client.post("/v1/accounts", json={"id": "acme"}, headers=api.h("operator"))
    assert r.status_code == 409
    assert r.json()["code"] == "account_exists"


def test_create_account_takes_no_numbers_from_the_body(api: Api) -> None:
    """Numbers go through their life cycle, never in with the account (clauses 9.1, 9.2)."""
    body = {"id": "carl", "npn": "+49 89 123456", "numbers": ["089 123457"], "version": 7}
    r = api.client.post("/v1/accounts", json=body, headers=api.h("operator"))
    assert r.status_code == 400
    assert r.json()["errors"][0]["source"] == "body"
    assert api.store.get_account("carl") is None


def test_create_account_bad_id_is_400_naming_id(api: Api) -> None:
    r = api.client.post(
        "/v1/accounts", json={"id": "Not Valid", "npn": "030 1234567"}, headers=api.h("operator")
    )
    assert r.status_code == 400
    assert [e["key"] for e in r.json()["errors"]] == ["id"]


def test_get_account(api: Api) -> None:
    r = api.client.get("/v1/accounts/acme", headers=api.h("employee_a"))
    assert r.status_code == 200
    assert r.json()["npn"] == "49301234567"
    assert r.json()["version"] == 1


def test_get_missing_account_is_404(api: Api) -> None:
    r = api.client.get("/v1/accounts/ghost", headers=api.h("operator"))
    assert r.status_code == 404
    assert r.json() == {
        "code": "not_found",
        "message": "no account 'ghost'",
        "errors": [],
        "rule": None,
    }


def test_numbers_read_shows_states_and_activation(api: Api) -> None:
    r = api.client.get("/v1/accounts/acme/numbers", headers=api.h("employee_a"))
    got = r.json()
    assert got["npn"] == "49301234567" and got["version"] == 1
    states = {h["id"]: (h["state"], h["activated_at"]) for h in got["holdings"]}
    assert states["49301234569"] == ("ordered", None)
    assert states["49301234568"] == ("active", 0.0)


def test_customer_number_writes_are_403_with_what_to_do_instead(api: Api) -> None:
    """Issue 10: an admin gave its Berlin account Hamburg numbers and a new NPN."""
    for method, path, body in (
        ("PUT", "/v1/accounts/acme/numbers", {"numbers": ["+49 40 1234567"], "npn": "+49 40 1"}),
        ("POST", "/v1/accounts/acme/numbers", {"first": "+49 40 1234567"}),
        ("PUT", "/v1/accounts/acme/npn", {"number": "+49 30 1234568"}),
        ("POST", "/v1/accounts/acme/numbers/49301234569/activate", {}),
    ):
        r = api.client.request(method, path, json=body, headers=api.h("admin_a"))
        assert r.status_code == 403, (method, path, r.text)
        assert r.json()["code"] == "forbidden"
        assert "assigned by the operator" in r.json()["message"]
    assert api.store.get_account("acme").version == 1  # type: ignore[union-attr]


def test_operator_life_cycle_through_the_api(api: Api) -> None:
    op = api.h("operator")
    r = api.client.post(
        "/v1/accounts/acme/numbers",
        json={"first": "030 2345670", "last": "030 2345679"},
        headers=op,
    )
    assert r.status_code == 201, r.text
    hid = "49302345670-49302345679"
    assert {h["id"]: h["state"] for h in r.json()["numbers"]["holdings"]}[hid] == "ordered"
    r = api.client.post(f"/v1/accounts/acme/numbers/{hid}/activate", json={}, headers=op)
    assert r.status_code == 409 and r.json()["code"] == "proof_required"
    proof = {"proof": {"kind": "gewerbeamt", "reference": "GA-2025-0042"}}
    r = api.client.post(f"/v1/accounts/acme/numbers/{hid}/activate", json=proof, headers=op)
    assert r.status_code == 201, r.text
    h = next(h for h in r.json()["numbers"]["holdings"] if h["id"] == hid)
    assert (h["state"], h["activated_at"]) == ("active", NOW)
    assert h["proof"]["verified_by"].startswith("key_") and h["proof"]["municipality"] == "11000000"
    r = api.client.put("/v1/accounts/acme/npn", json={"number": "+49 30 2345675"}, headers=op)
    assert r.status_code == 200 and r.json()["numbers"]["npn"] == "49302345675"
    # Since when may acme present the number? The activation, with the history behind it.
    r = api.client.get("/v1/accounts/acme/numbers/presentable/4930 2345671", headers=op)
    assert r.status_code == 200, r.text
    assert r.json()["since"] == NOW and r.json()["holding"] == hid
    assert [e["action"] for e in r.json()["history"]] == ["number.ordered", "number.active"]
    audit = api.client.get("/v1/accounts/acme/audit", headers=op).json()
    assert [e["action"] for e in audit] == ["number.ordered", "number.active", "npn.set"]
    assert all(e["actor"].startswith("key_") and e["at"] == NOW for e in audit)
    # Every transition is on the change feed, saying what happened.
    details = [e.detail for e in api.store.changes_since(0) if e.account == "acme"][-3:]
    assert details == ["number.ordered", "number.active", "npn.set"]


def test_geographic_numbers_outside_the_sites_ortsnetz_are_refused(api: Api) -> None:
    for number in ("+49 40 1234567", "+49 89 1234567"):
        r = api.client.post(
            "/v1/accounts/acme/numbers", json={"first": number}, headers=api.h("operator")
        )
        assert r.status_code == 409 and r.json()["code"] == "outside_ortsnetz", r.text


def test_a_block_cannot_grow_and_a_number_is_held_once(api: Api) -> None:
    op = api.h("operator")
    grow = {"first": "+49 30 777000", "last": "+49 30 777999"}  # 4930777700-99 is held
    r = api.client.post(
        "/v1/accounts/acme/numbers", json={"first": "030 777700", "last": "030 777799"}, headers=op
    )
    assert r.status_code == 409 and r.json()["code"] == "number_taken"
    r = api.client.post("/v1/accounts/acme/numbers", json=grow, headers=op)
    assert r.status_code == 409 and r.json()["code"] == "block_size_fixed", r.text
    r = api.client.post("/v1/accounts/bravo/numbers", json={"first": "030 1234568"}, headers=op)
    assert r.status_code == 409 and r.json()["code"] == "number_taken"  # before the Ortsnetz check


def test_a_port_in_on_its_date(api: Api) -> None:
    op = api.h("operator")
    body = {
        "first": "030 9876543",
        "port": {"previous_provider": "Telekom", "port_date": NOW + 86_400},
    }
    r = api.client.post("/v1/accounts/acme/numbers", json=body, headers=op)
    assert r.status_code == 201, r.text
    proof = {"proof": {"kind": "telekom_bill", "reference": "RG 4711"}}
    r = api.client.post("/v1/accounts/acme/numbers/49309876543/activate", json=proof, headers=op)
    assert r.status_code == 409 and r.json()["code"] == "port_date_not_reached"


def test_operator_change_for_a_fee_is_charged_once(api: Api) -> None:
    """Clause 11: a change made on the customer's behalf, charged in the unblock ledger."""
    op = api.h("operator")
    body = {"first": "+49 170 5555555", "fee_cents": 1500}
    r = api.client.post("/v1/accounts/acme/numbers", json=body, headers=op)
    assert r.status_code == 400 and r.json()["errors"][0]["key"] == "Idempotency-Key"
    key = api.h("operator", Idempotency_Key="order-7")
    first = api.client.post("/v1/accounts/acme/numbers", json=body, headers=key)
    again = api.client.post("/v1/accounts/acme/numbers", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert (first.json()["replayed"], again.json()["replayed"]) == (False, True)
    (charge,) = api.store.charges("acme")
    assert (charge.kind, charge.fee_cents, charge.target) == ("operator_change", 1500, None)
    other = api.client.post(
        "/v1/accounts/acme/numbers", json={**body, "first": "+49 170 6"}, headers=key
    )
    assert other.status_code == 422


def test_suspension_and_dialer_flag_through_the_api(api: Api) -> None:
    op = api.h("operator")
    r = api.client.post(
        "/v1/accounts/acme/suspension",
        json={"ground": "network_integrity", "note": "flood"},
        headers=op,
    )
    assert r.status_code == 201
    acme = api.store.get_account("acme")
    assert (
        acme is not None
        and acme.suspension is not None
        and acme.suspension.ground == "network_integrity"
    )
    r = api.client.get("/v1/decisions", params={"to": "030 1234", "account": "acme"}, headers=op)
    assert r.json()["decision"]["reason"] == "account_suspended"
    assert "network_integrity (flood)" in r.json()["suspension"]
    step = next(s for s in r.json()["steps"] if s["step"] == "operator_suspension")
    assert step["outcome"] == "decided"
    r = api.client.get("/v1/decisions", params={"to": "112", "account": "acme"}, headers=op)
    assert r.json()["decision"]["verdict"] == "emergency"
    assert api.client.delete("/v1/accounts/acme/suspension", headers=op).status_code == 200
    assert api.client.delete("/v1/accounts/acme/suspension", headers=op).status_code == 409


def test_presentation_only_of_active_numbers(api: Api) -> None:
    body = {"extensions": {"201": "+49 30 1234569"}}  # on order, not active
    r = api.client.put("/v1/accounts/acme/presentation", json=body, headers=api.h("admin_a"))
    assert r.status_code == 409 and r.json()["code"] == "not_active"
    body = {"extensions": {"201": "+49 30 1234568"}}
    r = api.client.put("/v1/accounts/acme/presentation", json=body, headers=api.h("admin_a"))
    assert r.status_code == 200 and r.json()["presentation"] == {"201": "49301234568"}


def test_site_declare_inside_the_local_network(api: Api) -> None:
    r = api.client.get("/v1/accounts/acme/site", headers=api.h("admin_a"))
    assert r.json()["site"]["area_code"] == "30"
    body = {
        "address": "Alexanderplatz 1, Berlin",
        "municipality": "11000000",
        "bandwidth_kbps": 1000,
    }
    r = api.client.put("/v1/accounts/acme/site", json=body, headers=api.h("admin_a"))
    assert r.status_code == 200, r.text
    site = r.json()["site"]
    assert (site["area_code"], site["address"], site["bandwidth_kbps"]) == (
        "30",
        "Alexanderplatz 1, Berlin",
        1000,
    )
    assert site["emergency_area"] == "test-berlin-mitte"


def test_site_move_outside_the_local_network_needs_new_numbers(api: Api) -> None:
    body = {"address": "Jungfernstieg 1, Hamburg", "municipality": "02000000", "area_code": "040"}
    r = api.client.put("/v1/accounts/acme/site", json=body, headers=api.h("admin_a"))
    assert r.status_code == 409
    err = r.json()
    assert err["code"] == "move_outside_local_network"
    assert "needs new numbers" in err["message"]
    assert api.store.get_account("acme").site.area_code == "30"  # type: ignore[union-attr]
    # The customer's typed area code never overrides the operator's data.
    body = {"address": "Jungfernstieg 1", "municipality": "02000000", "area_code": "030"}
    r = api.client.put("/v1/accounts/acme/site", json=body, headers=api.h("admin_a"))
    assert r.status_code == 400 and r.json()["code"] == "invalid_site"


def test_site_bad_area_code_is_400(api: Api) -> None:
    body = {"address": "x", "municipality": "11000000", "area_code": "0030"}
    r = api.client.put("/v1/accounts/acme/site", json=body, headers=api.h("admin_a"))
    assert r.status_code == 400
    assert [(e["key"], e["source"]) for e in r.json()["errors"]] == [("area_code", "body")]


def test_writes_take_the_injected_clock(api: Api) -> None:
    api.client.post(
        "/v1/accounts/acme/blocks",
        json={"kind": "country", "value": "44"},
        headers=api.h("admin_a"),
    )
    assert api.store.changes_since(0)[-1].at == NOW
