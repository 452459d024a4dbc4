"""Decisions with explanation, and the published operator blocks (clause 9.5)."""

from __future__ import annotations

import csv
import io

from .conftest import Api


def test_decision_explains_the_chain(api: Api) -> None:
    r = api.client.get(
        "/v1/decisions", params={"to": "09001 123456", "account": "acme"}, headers=api.h("operator")
    )
    assert r.status_code == 200, r.text
    e = r.json()
    assert e["dial"] == "09001 123456"
    assert (e["decision"]["verdict"], e["decision"]["reason"]) == ("block", "premium_rate")
    assert e["decision"]["rule"]["id"] == "premium-rate"
    assert e["decision"]["sip"]["status"] == 403
    decided = [s for s in e["steps"] if s["outcome"] == "decided"]
    assert [s["step"] for s in decided] == ["operator_default_block"]


def test_decision_defaults_to_the_keys_account(api: Api) -> None:
    r = api.client.get(
        "/v1/decisions",
        params={"to": "030 9876543", "from": "+49 30 1234568"},
        headers=api.h("employee_a"),
    )
    assert r.status_code == 200
    d = r.json()["decision"]
    assert d["verdict"] == "allow"
    # The UPN is one of acme's numbers: presented as it is (clause 9.6).
    assert d["identity"]["number"] == "49301234568"


def test_decision_local_number_uses_the_sites_area_code(api: Api) -> None:
    site = {"address": "Berlin", "area_code": "030"}
    api.client.put("/v1/accounts/acme/site", json=site, headers=api.h("admin_a"))
    r = api.client.get("/v1/decisions", params={"to": "9876543"}, headers=api.h("admin_a"))
    assert r.json()["decision"]["number"] == "49309876543"


def test_decision_emergency(api: Api) -> None:
    r = api.client.get("/v1/decisions", params={"to": "112"}, headers=api.h("admin_a"))
    assert r.json()["decision"]["verdict"] == "emergency"


def test_decision_invalid_number_is_a_decision_not_an_error(api: Api) -> None:
    r = api.client.get("/v1/decisions", params={"to": "not a number"}, headers=api.h("admin_a"))
    assert r.status_code == 200
    assert r.json()["decision"]["verdict"] == "reject"


def test_decision_operator_must_name_the_account(api: Api) -> None:
    r = api.client.get("/v1/decisions", params={"to": "112"}, headers=api.h("operator"))
    assert r.status_code == 400
    assert r.json()["errors"] == [
        {"key": "account", "source": "query", "message": "required for operator keys"}
    ]


def test_decision_missing_to_is_400(api: Api) -> None:
    r = api.client.get("/v1/decisions", headers=api.h("admin_a"))
    assert r.status_code == 400
    assert [(e["key"], e["source"]) for e in r.json()["errors"]] == [("to", "query")]


def test_decision_for_another_account_is_404(api: Api) -> None:
    r = api.client.get(
        "/v1/decisions", params={"to": "112", "account": "bravo"}, headers=api.h("admin_a")
    )
    assert r.status_code == 404


def test_operator_blocks_json(api: Api) -> None:
    r = api.client.get("/v1/operator-blocks", headers=api.h("employee_b"))
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    entries = r.json()
    assert {"kind": "prefix", "value": "09001", "block": "premium-rate"}.items() <= entries[
        0
    ].items()
    exceptions = [e["value"] for e in entries if e["kind"] == "exception"]
    assert exceptions == ["11822", "11823"]


def test_operator_blocks_csv_by_query_and_by_accept(api: Api) -> None:
    by_query = api.client.get("/v1/operator-blocks?format=csv", headers=api.h("admin_a"))
    by_accept = api.client.get("/v1/operator-blocks", headers=api.h("admin_a", Accept="text/csv"))
    as_json = api.client.get("/v1/operator-blocks", headers=api.h("admin_a")).json()
    for r in (by_query, by_accept):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert [row["value"] for row in rows] == [e["value"] for e in as_json]
        assert rows[0]["liftable"] == "true"
    # ?format wins over Accept.
    r = api.client.get(
        "/v1/operator-blocks?format=json", headers=api.h("admin_a", Accept="text/csv")
    )
    assert r.headers["content-type"].startswith("application/json")
