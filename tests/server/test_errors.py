"""One error shape for every failure (server/errors.py)."""

from __future__ import annotations

import pytest

from .conftest import Api


def test_no_key_is_401_with_a_challenge(api: Api) -> None:
    r = api.client.get("/v1/accounts/acme")
    assert r.status_code == 401
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert r.json()["code"] == "unauthorized"


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer cpk_not-a-key"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer "},
        {"X-API-Key": "cpk_not-a-key"},
    ],
)
def test_bad_keys_are_401(api: Api, headers: dict[str, str]) -> None:
    assert api.client.get("/v1/decisions?to=112", headers=headers).status_code == 401
    # The published operator blocks are public (clause 9.5): a key is not even looked at.
    assert api.client.get("/v1/operator-blocks", headers=headers).status_code == 200


def test_x_api_key_header_works(api: Api) -> None:
    r = api.client.get("/v1/accounts/acme", headers={"X-API-Key": api.keys["admin_a"]})
    assert r.status_code == 200


def test_only_the_hash_of_a_key_is_stored(api: Api) -> None:
    raw = api.store._conn().execute("SELECT hash, principal FROM api_keys").fetchall()
    stored = " ".join(f"{h} {p!r}" for h, p in raw)
    assert all(key not in stored for key in api.keys.values())


def test_malformed_json_is_400(api: Api) -> None:
    r = api.client.post(
        "/v1/accounts",
        content=b"{not json",
        headers=api.h("operator", Content_Type="application/json"),
    )
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == "invalid_request"
    assert body["errors"][0]["source"] == "body"


def test_wrong_type_names_the_nested_field(api: Api) -> None:
    body = {"site": {"address": "x", "municipality": 11000000}, "numbers": []}
    r = api.client.post("/v1/accounts/acme/relocate", json=body, headers=api.h("operator"))
    assert r.status_code == 400
    assert r.json()["errors"] == [
        {"key": "site.municipality", "source": "body", "message": "Expected `str`, got `int`"}
    ]


def test_unknown_route_is_404_in_the_same_shape(api: Api) -> None:
    r = api.client.get("/v1/nope", headers=api.h("operator"))
    assert r.status_code == 404
    assert set(r.json()) == {"code", "message", "errors", "rule"}


def test_wrong_method_is_405(api: Api) -> None:
    r = api.client.patch("/v1/accounts/acme", headers=api.h("operator"))
    assert r.status_code == 405
    assert r.json()["code"] == "method_not_allowed"


def test_too_large_body_is_413(api: Api) -> None:
    big = {"id": "x", "npn": "030 1234567", "name": "x" * 2_000_000}
    r = api.client.post("/v1/accounts", json=big, headers=api.h("operator"))
    assert r.status_code == 413


def test_server_state_errors_are_500_without_details(api: Api) -> None:
    api.store.close()  # the injected store is broken now
    r = api.client.get("/v1/accounts/acme", headers=api.h("operator"))
    assert r.status_code == 500
    assert r.json() == {
        "code": "internal_error",
        "message": "internal error",
        "errors": [],
        "rule": None,
    }


def test_ready_is_503_when_the_store_fails(api: Api) -> None:
    assert api.client.get("/ready").status_code == 200
    api.store.close()
    r = api.client.get("/ready")
    assert r.status_code == 503
    assert r.json()["status"] == "not_ready"
    assert "closed" in r.json()["store"]


def test_health_needs_no_key(api: Api) -> None:
    assert api.client.get("/health").json() == {"status": "ok", "rules_follower": "OK"}


def test_openapi_document_is_served(api: Api) -> None:
    doc = api.client.get("/schema/openapi.json").json()
    paths = doc["paths"]
    assert "/v1/accounts/{account_id}/blocks/{kind}/{value}" in paths
    delete = paths["/v1/accounts/{account_id}/blocks/{kind}/{value}"]["delete"]
    header = [p for p in delete["parameters"] if p["in"] == "header"]
    assert header[0]["name"] == "Idempotency-Key" and header[0]["required"] is True
    assert set(doc["components"]["securitySchemes"]) == {"bearer", "apiKey"}
