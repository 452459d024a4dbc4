"""Decisions with explanation, and the published operator blocks (clause 9.5)."""

from __future__ import annotations

import csv
import io
import pathlib

from litestar.testing import TestClient

from policy import PolicyRuntime, Snapshot, read_events
from policy.state.store import SqliteStore
from server import ServerConfig, create_app

from .conftest import NOW, RULES, Api, seed


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
    r = api.client.get("/v1/operator-blocks")  # public information: no key (clause 9.5)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    entries = r.json()
    assert {"kind": "prefix", "value": "09001", "block": "premium-rate"}.items() <= entries[
        0
    ].items()
    assert (entries[0]["prefixes"], entries[0]["canonical"]) == (["09001"], ["499001"])
    exceptions = [e["value"] for e in entries if e["kind"] == "exception"]
    assert exceptions == ["11822", "11823"]
    # A category names its number ranges, as dialled and canonical (clause 9.5 ¶2).
    (groups,) = [e for e in entries if e["value"] == "user_groups"]
    assert groups["kind"] == "category"
    assert groups["prefixes"] == [f"018{d}" for d in range(1, 10)]
    assert groups["canonical"] == [f"4918{d}" for d in range(1, 10)]
    assert r.json() == api.client.get("/v1/operator-blocks", headers=api.h("admin_a")).json()


def test_operator_blocks_name_a_countrys_calling_code(hard_api: Api) -> None:
    entries = hard_api.client.get("/v1/operator-blocks").json()
    (satellite,) = [e for e in entries if e["kind"] == "country"]
    assert (satellite["value"], satellite["prefixes"], satellite["canonical"]) == (
        "881",
        ["+881"],
        ["881"],
    )


def test_decision_names_the_accounts_matching_block(api: Api) -> None:
    block = {"kind": "prefix", "value": "+44 20"}
    r = api.client.post("/v1/accounts/acme/blocks", json=block, headers=api.h("admin_a"))
    assert r.status_code == 201, r.text
    r = api.client.get("/v1/decisions", params={"to": "+44 20 7946 0000"}, headers=api.h("admin_a"))
    e = r.json()
    assert e["decision"]["reason"] == "customer_block"
    assert e["customer_blocks"] == [{"kind": "prefix", "value": "+4420", "canonical": "4420"}]
    (decided,) = [s for s in e["steps"] if s["outcome"] == "decided"]
    assert decided["note"] == "blocked by the account: prefix +4420 (4420)"


def test_operator_blocks_csv_by_query_and_by_accept(api: Api) -> None:
    by_query = api.client.get("/v1/operator-blocks?format=csv")
    by_accept = api.client.get("/v1/operator-blocks", headers=api.h("admin_a", Accept="text/csv"))
    as_json = api.client.get("/v1/operator-blocks", headers=api.h("admin_a")).json()
    for r in (by_query, by_accept):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert [row["value"] for row in rows] == [e["value"] for e in as_json]
        assert rows[0]["liftable"] == "true"
        assert [row["prefixes"].split() for row in rows] == [e["prefixes"] for e in as_json]
    # ?format wins over Accept.
    r = api.client.get(
        "/v1/operator-blocks?format=json", headers=api.h("admin_a", Accept="text/csv")
    )
    assert r.headers["content-type"].startswith("application/json")


def test_decisions_carry_an_id_and_are_logged(
    store: SqliteStore, snapshot: Snapshot, tmp_path: pathlib.Path
) -> None:
    """Issue 12: the id returned leads to the decision-log line (numbers masked)."""
    log = tmp_path / "decisions.jsonl"
    config = ServerConfig(
        rules_dir=str(RULES), store_url="unused.db", decision_log=str(log), node="api1"
    )
    keys = seed(store)
    runtime = PolicyRuntime(str(RULES), NOW, compiler=lambda _: snapshot)
    app = create_app(config, store=store, runtime=runtime, clock=lambda: NOW)
    with TestClient(app) as client:
        r = client.get(
            "/v1/decisions",
            params={"to": "09001 123456"},
            headers={"Authorization": f"Bearer {keys['admin_a']}"},
        )
        assert r.status_code == 200
        decision_id = r.json()["decision_id"]
        assert decision_id.startswith("api1-")
    (line,) = read_events([str(log)])  # the app's shutdown wrote the queue out
    assert (line.id, line.account, line.verdict, line.reason) == (
        decision_id,
        "acme",
        "block",
        "premium_rate",
    )
    assert line.number == "49900112XXXX" and line.ts == NOW and line.sip_status == 403
