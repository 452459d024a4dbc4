"""API keys: list, create, revoke, rotate (operators), last use; charges paged (issue 11)."""

from __future__ import annotations

from server.__main__ import main as server_main

from .conftest import NOW, Api


def test_keys_listed_with_their_last_use_and_never_their_secret(api: Api) -> None:
    api.client.get("/v1/accounts/acme", headers=api.h("admin_a"))
    r = api.client.get("/v1/keys", params={"account": "acme"}, headers=api.h("operator"))
    assert r.status_code == 200
    keys = r.json()
    assert {k["role"] for k in keys} == {"admin", "employee"}
    admin = next(k for k in keys if k["role"] == "admin")
    assert admin["last_used_at"] == NOW and admin["revoked_at"] is None
    assert api.keys["admin_a"] not in r.text  # the key itself is never shown again


def test_revoked_key_stops_at_once(api: Api) -> None:
    keys = api.client.get("/v1/keys", params={"account": "acme"}, headers=api.h("operator"))
    admin = next(k for k in keys.json() if k["role"] == "admin")
    assert api.client.get("/v1/accounts/acme", headers=api.h("admin_a")).status_code == 200
    r = api.client.delete(f"/v1/keys/{admin['key_id']}", headers=api.h("operator"))
    assert r.status_code == 200 and r.json()["revoked_at"] == NOW
    assert api.client.get("/v1/accounts/acme", headers=api.h("admin_a")).status_code == 401


def test_rotate_gives_a_new_key_of_the_same_role_and_revokes_the_old(api: Api) -> None:
    keys = api.client.get("/v1/keys", params={"account": "acme"}, headers=api.h("operator"))
    employee = next(k for k in keys.json() if k["role"] == "employee")
    r = api.client.post(f"/v1/keys/{employee['key_id']}/rotate", headers=api.h("operator"))
    assert r.status_code == 201, r.text
    new = r.json()
    assert (new["role"], new["account"]) == ("employee", "acme") and new["key"].startswith("cpk_")
    assert api.client.get("/v1/accounts/acme", headers=api.h("employee_a")).status_code == 401
    fresh = {"Authorization": f"Bearer {new['key']}"}
    assert api.client.get("/v1/accounts/acme", headers=fresh).status_code == 200
    again = api.client.post(f"/v1/keys/{employee['key_id']}/rotate", headers=api.h("operator"))
    assert again.status_code == 404  # a revoked key is not rotated twice


def test_create_key_validates_role_and_account(api: Api) -> None:
    op = api.h("operator")
    r = api.client.post("/v1/keys", json={"role": "admin"}, headers=op)
    assert r.status_code == 400 and r.json()["errors"][0]["key"] == "account"
    r = api.client.post("/v1/keys", json={"role": "admin", "account": "ghost"}, headers=op)
    assert r.status_code == 400
    r = api.client.post("/v1/keys", json={"role": "admin", "account": "acme"}, headers=op)
    assert r.status_code == 201
    assert (
        api.client.get("/v1/accounts/acme", headers={"X-API-Key": r.json()["key"]}).status_code
        == 200
    )


def test_charges_are_paged_with_iso_times_and_currency(api: Api) -> None:
    for i, block in enumerate(("premium-rate", "directory")):
        r = api.client.delete(
            f"/v1/accounts/acme/blocks/operator/{block}",
            headers=api.h("admin_a", Idempotency_Key=f"p-{i}"),
        )
        assert r.status_code == 200, r.text
    r = api.client.get(
        "/v1/accounts/acme/charges", params={"limit": 1, "since": 0}, headers=api.h("employee_a")
    )
    page = r.json()
    assert len(page["charges"]) == 1 and page["next"] == 1
    charge = page["charges"][0]
    assert charge["created_at"] == "2026-01-01T00:00:00Z" and charge["currency"] == "EUR"
    r = api.client.get(
        "/v1/accounts/acme/charges",
        params={"limit": 1, "since": page["next"]},
        headers=api.h("employee_a"),
    )
    assert len(r.json()["charges"]) == 1 and r.json()["next"] is None
    assert r.json()["charges"][0]["id"] != charge["id"]
    r = api.client.get(
        "/v1/accounts/acme/charges", params={"limit": 0}, headers=api.h("employee_a")
    )
    assert r.status_code == 400


def test_keys_cli_lists_revokes_and_rotates(api: Api, capsys: object) -> None:
    url = api.store._path  # type: ignore[attr-defined]
    assert server_main(["keys", "list", "--account", "acme", "--store", url]) == 0
    out = capsys.readouterr().out  # type: ignore[attr-defined]
    key_id = next(line.split("\t")[0] for line in out.splitlines() if "\temployee\t" in line)
    assert server_main(["keys", "rotate", key_id, "--store", url]) == 0
    new_key = capsys.readouterr().out.strip()  # type: ignore[attr-defined]
    assert new_key.startswith("cpk_")
    assert server_main(["keys", "revoke", key_id, "--store", url]) == 0
    assert server_main(["keys", "revoke", "key_nope", "--store", url]) == 1
