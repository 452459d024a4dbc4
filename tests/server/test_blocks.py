"""Blocks, paid unblocks with idempotency keys, and the ledger (server/routes/blocks.py)."""

from __future__ import annotations

from server.schemas import iso8601

from .conftest import NOW, Api

UNBLOCK_PREMIUM = "/v1/accounts/acme/blocks/operator/premium-rate"


def test_blocks_list_add_and_effective_at_once(api: Api) -> None:
    r = api.client.get("/v1/accounts/acme/blocks", headers=api.h("employee_a"))
    assert r.json() == {"blocks": [], "lifted": [], "version": 1}
    before = api.client.get(
        "/v1/decisions", params={"to": "+44 20 7946 0000"}, headers=api.h("admin_a")
    ).json()
    assert before["decision"]["verdict"] == "allow"

    r = api.client.post(
        "/v1/accounts/acme/blocks",
        json={"kind": "prefix", "value": "+44 20"},
        headers=api.h("admin_a"),
    )
    assert r.status_code == 201, r.text
    assert r.json() == {"blocks": [{"kind": "prefix", "value": "4420"}], "lifted": [], "version": 2}
    # Free of charge and effective at once (clause 9.5).
    assert api.store.charges("acme") == []
    after = api.client.get(
        "/v1/decisions", params={"to": "+44 20 7946 0000"}, headers=api.h("admin_a")
    ).json()
    assert after["decision"]["verdict"] == "block"
    assert after["decision"]["reason"] == "customer_block"


def test_block_unknown_category_is_400_naming_value(api: Api) -> None:
    r = api.client.post(
        "/v1/accounts/acme/blocks",
        json={"kind": "category", "value": "nope"},
        headers=api.h("admin_a"),
    )
    assert r.status_code == 400
    err = r.json()
    assert err["code"] == "invalid_target"
    assert err["errors"] == [
        {"key": "value", "source": "body", "message": "unknown category 'nope'"}
    ]


def test_block_of_an_operator_block_is_refused(api: Api) -> None:
    r = api.client.post(
        "/v1/accounts/acme/blocks",
        json={"kind": "operator", "value": "premium-rate"},
        headers=api.h("admin_a"),
    )
    assert r.status_code == 400
    assert r.json()["errors"][0]["key"] == "kind"


def test_unblock_quote(api: Api) -> None:
    r = api.client.get(f"{UNBLOCK_PREMIUM}/unblock-quote", headers=api.h("employee_a"))
    assert r.status_code == 200
    q = r.json()
    assert (q["allowed"], q["fee_cents"], q["reason"]) == (True, 2500, "operator_default_block")
    assert q["rule"]["id"] == "premium-rate"
    assert q["rule"]["file"].endswith("blocks.toml")


def test_unblock_quote_bad_kind_is_400_naming_the_path_field(api: Api) -> None:
    r = api.client.get(
        "/v1/accounts/acme/blocks/planet/mars/unblock-quote", headers=api.h("admin_a")
    )
    assert r.status_code == 400
    assert [(e["key"], e["source"]) for e in r.json()["errors"]] == [("kind", "path")]


def test_unblock_unknown_operator_block_is_404(api: Api) -> None:
    r = api.client.delete(
        "/v1/accounts/acme/blocks/operator/nope", headers=api.h("admin_a", Idempotency_Key="k")
    )
    assert r.status_code == 404
    assert r.json()["code"] == "unknown_block"


def test_unblock_charges_once_per_idempotency_key(api: Api) -> None:
    h = api.h("admin_a", Idempotency_Key="req-1")
    first = api.client.delete(UNBLOCK_PREMIUM, headers=h)
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["replayed"] is False
    assert body["account"]["lifted"] == ["premium-rate"]
    charge = body["charge"]
    assert (charge["fee_cents"], charge["currency"], charge["rule"], charge["created_at"]) == (
        2500,
        "EUR",
        "premium-rate",
        iso8601(NOW),
    )

    again = api.client.delete(UNBLOCK_PREMIUM, headers=h)
    assert again.status_code == 200
    assert again.json()["replayed"] is True
    assert again.json()["charge"] == charge
    ledger = api.client.get("/v1/accounts/acme/charges", headers=api.h("employee_a")).json()
    assert ledger == {"charges": [charge], "next": None}

    # Lifted: the premium-rate number is allowed now.
    d = api.client.get("/v1/decisions", params={"to": "09001 123456"}, headers=api.h("admin_a"))
    assert d.json()["decision"]["reason"] == "lifted"


def test_unblock_same_key_other_target_is_422(api: Api) -> None:
    h = api.h("admin_a", Idempotency_Key="req-1")
    assert api.client.delete(UNBLOCK_PREMIUM, headers=h).status_code == 200
    r = api.client.delete("/v1/accounts/acme/blocks/operator/directory", headers=h)
    assert r.status_code == 422
    assert r.json()["code"] == "idempotency_conflict"
    assert len(api.store.charges("acme")) == 1


def test_unblock_without_idempotency_key_is_400(api: Api) -> None:
    r = api.client.delete(UNBLOCK_PREMIUM, headers=api.h("admin_a"))
    assert r.status_code == 400
    assert r.json()["errors"] == [
        {"key": "Idempotency-Key", "source": "header", "message": "missing"}
    ]
    assert api.store.charges("acme") == []


def test_unblock_another_key_of_a_lifted_block_is_409_not_blocked(api: Api) -> None:
    assert (
        api.client.delete(
            UNBLOCK_PREMIUM, headers=api.h("admin_a", Idempotency_Key="a")
        ).status_code
        == 200
    )
    r = api.client.delete(UNBLOCK_PREMIUM, headers=api.h("admin_a", Idempotency_Key="b"))
    assert r.status_code == 409
    assert r.json()["code"] == "not_blocked"
    assert len(api.store.charges("acme")) == 1


def test_unblock_own_prefix_block_costs_the_customer_fee(api: Api) -> None:
    api.client.post(
        "/v1/accounts/acme/blocks",
        json={"kind": "prefix", "value": "+44"},
        headers=api.h("admin_a"),
    )
    r = api.client.delete(
        "/v1/accounts/acme/blocks/prefix/+44", headers=api.h("admin_a", Idempotency_Key="p")
    )
    assert r.status_code == 200, r.text
    assert r.json()["account"]["blocked_prefixes"] == []
    assert r.json()["charge"]["fee_cents"] == 500
    assert r.json()["charge"]["rule"] == "customer-unblock"
    assert r.json()["charge"]["target"] == {"kind": "prefix", "value": "44"}


def test_unblock_not_liftable_is_409_naming_the_rule(hard_api: Api) -> None:
    api = hard_api
    q = api.client.get(
        "/v1/accounts/acme/blocks/operator/satellite/unblock-quote", headers=api.h("admin_a")
    ).json()
    assert (q["allowed"], q["reason"]) == (False, "not_liftable")
    r = api.client.delete(
        "/v1/accounts/acme/blocks/operator/satellite", headers=api.h("admin_a", Idempotency_Key="s")
    )
    assert r.status_code == 409
    err = r.json()
    assert err["code"] == "not_liftable"
    assert err["rule"]["id"] == "satellite"
    assert err["rule"]["file"].endswith("blocks.toml") and err["rule"]["line"] > 0
    assert "satellite" in err["message"]
    assert api.store.charges("acme") == []
    d = api.client.get("/v1/decisions", params={"to": "+881 612345678"}, headers=api.h("admin_a"))
    assert d.json()["decision"]["verdict"] == "block"


def test_charges_of_an_account(api: Api) -> None:
    empty = {"charges": [], "next": None}
    assert api.client.get("/v1/accounts/acme/charges", headers=api.h("admin_a")).json() == empty
    api.client.delete(UNBLOCK_PREMIUM, headers=api.h("operator", Idempotency_Key="op-1"))
    ledger = api.client.get("/v1/accounts/acme/charges", headers=api.h("admin_a")).json()
    assert [c["idempotency_key"] for c in ledger["charges"]] == ["op-1"]
    assert api.client.get("/v1/accounts/bravo/charges", headers=api.h("admin_b")).json() == empty
