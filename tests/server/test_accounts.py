"""Accounts, numbers and sites (server/routes/accounts.py)."""

from __future__ import annotations

from .conftest import NOW, Api


def test_list_accounts(api: Api) -> None:
    r = api.client.get("/v1/accounts", headers=api.h("operator"))
    assert r.status_code == 200
    assert r.json() == {"accounts": ["acme", "bravo"]}


def test_create_account_canonicalises_numbers(api: Api) -> None:
    body = {
        "id": "carl",
        "name": "Carl",
        "npn": "+49 89 123456",
        "numbers": ["089 123457"],
        "number_blocks": [{"first": "089 1234500", "last": "089 1234599"}],
    }
    r = api.client.post("/v1/accounts", json=body, headers=api.h("operator"))
    assert r.status_code == 201, r.text
    got = r.json()
    assert got["npn"] == "4989123456"
    assert got["numbers"] == ["4989123457"]
    assert got["number_blocks"] == [{"first": "49891234500", "last": "49891234599"}]
    assert got["version"] == 1
    assert api.store.get_account("carl") is not None
    # The store emitted the change event (the change feed of the edge).
    assert api.store.changes_since(0)[-1].account == "carl"


def test_create_account_taken_id_is_409(api: Api) -> None:
    r = api.client.post(
        "/v1/accounts", json={"id": "acme", "npn": "030 1234567"}, headers=api.h("operator")
    )
    assert r.status_code == 409
    assert r.json()["code"] == "account_exists"


def test_create_account_names_every_bad_field(api: Api) -> None:
    body = {
        "id": "carl",
        "npn": "+49 89 123456",
        "numbers": ["089 1", "not a number"],
        "number_blocks": [{"first": "089 1234599", "last": "089 1234500"}],
    }
    r = api.client.post("/v1/accounts", json=body, headers=api.h("operator"))
    assert r.status_code == 400
    err = r.json()
    assert err["code"] == "invalid_request"
    keys = [(e["key"], e["source"]) for e in err["errors"]]
    assert keys == [("numbers[1]", "body"), ("number_blocks[0]", "body")]
    assert err["message"].startswith("numbers[1]: invalid_number")


def test_create_account_server_owned_fields_never_come_from_the_body(api: Api) -> None:
    body = {"id": "carl", "npn": "+49 89 123456", "version": 7}
    r = api.client.post("/v1/accounts", json=body, headers=api.h("operator"))
    assert r.status_code == 400
    assert r.json()["errors"] == [
        {"key": "version", "source": "body", "message": "Object contains unknown field `version`"}
    ]


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


def test_numbers_get_and_put(api: Api) -> None:
    r = api.client.get("/v1/accounts/acme/numbers", headers=api.h("employee_a"))
    assert r.json() == {
        "npn": "49301234567",
        "numbers": ["49301234568"],
        "number_blocks": [],
        "version": 1,
    }
    body = {"numbers": ["+49 30 555"], "number_blocks": [{"first": "030 100", "last": "030 199"}]}
    r = api.client.put("/v1/accounts/acme/numbers", json=body, headers=api.h("admin_a"))
    assert r.status_code == 200, r.text
    assert r.json() == {
        "npn": "49301234567",
        "numbers": ["4930555"],
        "number_blocks": [{"first": "4930100", "last": "4930199"}],
        "version": 2,
    }


def test_numbers_put_rejects_a_bad_npn(api: Api) -> None:
    r = api.client.put("/v1/accounts/acme/numbers", json={"npn": "abc"}, headers=api.h("admin_a"))
    assert r.status_code == 400
    assert [e["key"] for e in r.json()["errors"]] == ["npn"]
    assert api.store.get_account("acme").version == 1  # type: ignore[union-attr]


def test_site_declare_inside_the_local_network(api: Api) -> None:
    r = api.client.get("/v1/accounts/acme/site", headers=api.h("admin_a"))
    assert r.json() == {"site": None, "version": 1}
    body = {"address": "Unter den Linden 1, Berlin", "municipality": "11000000", "area_code": "030"}
    r = api.client.put("/v1/accounts/acme/site", json=body, headers=api.h("admin_a"))
    assert r.status_code == 200, r.text
    site = r.json()["site"]
    assert site["area_code"] == "30"
    assert site["address"] == "Unter den Linden 1, Berlin"
    assert site["emergency_area"]
    assert api.store.get_account("acme").site is not None  # type: ignore[union-attr]


def test_site_move_outside_the_local_network_needs_new_numbers(api: Api) -> None:
    body = {"address": "Jungfernstieg 1, Hamburg", "area_code": "040"}
    r = api.client.put("/v1/accounts/acme/site", json=body, headers=api.h("admin_a"))
    assert r.status_code == 409
    err = r.json()
    assert err["code"] == "move_outside_local_network"
    assert "needs new numbers" in err["message"]
    assert api.store.get_account("acme").site is None  # type: ignore[union-attr]


def test_site_bad_area_code_is_400(api: Api) -> None:
    body = {"address": "x", "area_code": "0030"}
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
