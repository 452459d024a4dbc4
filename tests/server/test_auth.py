"""Isolation: every endpoint × every role × own/other account (clause 5.1, server/auth.py).

Decisions pinned here:

- no key or an unknown key: 401 everywhere under /v1;
- another customer's account: 404, the very answer of an account that does not exist,
  so keys cannot enumerate accounts (never 403 there);
- an employee changing its OWN account: 403 (it may read it, so the account's existence
  is no secret to it);
- operator-only routes (accounts list/create, rules): 403 for customer keys;
- the published operator blocks (clause 9.5): public, with or without a key; the only
  /v1 route without a security requirement in the OpenAPI document.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from .conftest import Api

OK = "ok"

#: What each kind of endpoint answers each caller (OK: the endpoint's success status).
EXPECTED: dict[str, dict[str | None, int | str]] = {
    "read": {
        "operator": OK,
        "admin_a": OK,
        "employee_a": OK,
        "admin_b": 404,
        "employee_b": 404,
        None: 401,
    },
    "write": {
        "operator": OK,
        "admin_a": OK,
        "employee_a": 403,
        "admin_b": 404,
        "employee_b": 404,
        None: 401,
    },
    "operator": {
        "operator": OK,
        "admin_a": 403,
        "employee_a": 403,
        "admin_b": 403,
        "employee_b": 403,
        None: 401,
    },
    "numbers": {
        "operator": OK,
        "admin_a": 403,
        "employee_a": 403,
        "admin_b": 404,
        "employee_b": 404,
        None: 401,
    },
    "public": {
        "operator": OK,
        "admin_a": OK,
        "employee_a": OK,
        "admin_b": OK,
        "employee_b": OK,
        None: OK,
    },
}

#: The /v1 routes that need no key (public information, clause 9.5).
PUBLIC = {("GET", "/v1/operator-blocks")}

UNBLOCK = "/v1/accounts/acme/blocks/operator/premium-rate"

#: (name, method, path, request kwargs, kind, success status); every path is about acme.
ENDPOINTS: list[tuple[str, str, str, dict[str, Any], str, int]] = [
    ("accounts.list", "GET", "/v1/accounts", {}, "operator", 200),
    (
        "accounts.create",
        "POST",
        "/v1/accounts",
        {"json": {"id": "carl"}},
        "operator",
        201,
    ),
    ("accounts.get", "GET", "/v1/accounts/acme", {}, "read", 200),
    ("numbers.get", "GET", "/v1/accounts/acme/numbers", {}, "read", 200),
    # Numbers and the NPN are the operator's (clauses 9.1, 9.2): every write refused to
    # customer keys with 403; a wholesale PUT refused to operators too (no transition).
    ("numbers.put", "PUT", "/v1/accounts/acme/numbers", {"json": {"numbers": []}}, "numbers", 403),
    (
        "numbers.post",
        "POST",
        "/v1/accounts/acme/numbers",
        {"json": {"first": "+49 30 1234570"}},
        "numbers",
        201,
    ),
    (
        "numbers.activate",
        "POST",
        "/v1/accounts/acme/numbers/49301234569/activate",
        {"json": {"proof": {"kind": "lease", "reference": "MV-2026-7"}}},
        "numbers",
        201,
    ),
    (
        "numbers.port_out",
        "POST",
        "/v1/accounts/acme/numbers/49301234568/port-out",
        {"json": {}},
        "numbers",
        201,
    ),
    (
        "numbers.return",
        "POST",
        "/v1/accounts/acme/numbers/49301234568/return",
        {"json": {}},
        "numbers",
        201,
    ),
    (
        "numbers.split",
        "POST",
        "/v1/accounts/acme/numbers/4930777700-4930777799/split",
        {"json": {"size": 10}},
        "numbers",
        201,
    ),
    (
        "numbers.return_part",
        "POST",
        "/v1/accounts/acme/numbers/4930777700-4930777799/return-part",
        {"json": {"first": "+49 30 777710", "last": "+49 30 777719"}},
        "numbers",
        201,
    ),
    (
        "numbers.presentable",
        "GET",
        "/v1/accounts/acme/numbers/presentable/4930777712",
        {},
        "numbers",
        200,
    ),
    (
        "npn.put",
        "PUT",
        "/v1/accounts/acme/npn",
        {"json": {"number": "030 1234568"}},
        "numbers",
        200,
    ),
    (
        "relocate",
        "POST",
        "/v1/accounts/acme/relocate",
        {
            "json": {
                "site": {
                    "address": "Jungfernstieg 1",
                    "municipality": "02000000",
                    "area_code": "40",
                },
                "numbers": [{"first": "+49 40 1111111"}],
            }
        },
        "numbers",
        201,
    ),
    (
        "suspension.post",
        "POST",
        "/v1/accounts/acme/suspension",
        {"json": {"ground": "network_integrity", "note": "flood"}},
        "numbers",
        201,
    ),
    # Not suspended: the operator reaches the handler and gets its 409.
    ("suspension.delete", "DELETE", "/v1/accounts/acme/suspension", {}, "numbers", 409),
    ("dialer_flag.delete", "DELETE", "/v1/accounts/acme/dialer-flag", {}, "numbers", 200),
    ("audit.get", "GET", "/v1/accounts/acme/audit", {}, "numbers", 200),
    (
        "presentation.put",
        "PUT",
        "/v1/accounts/acme/presentation",
        {"json": {"extensions": {"201": "+49 30 1234568"}}},
        "write",
        200,
    ),
    ("site.get", "GET", "/v1/accounts/acme/site", {}, "read", 200),
    (
        "site.put",
        "PUT",
        "/v1/accounts/acme/site",
        {"json": {"address": "Berlin", "municipality": "11000000"}},
        "write",
        200,
    ),
    ("blocks.get", "GET", "/v1/accounts/acme/blocks", {}, "read", 200),
    (
        "blocks.post",
        "POST",
        "/v1/accounts/acme/blocks",
        {"json": {"kind": "prefix", "value": "+44"}},
        "write",
        201,
    ),
    ("blocks.quote", "GET", f"{UNBLOCK}/unblock-quote", {}, "read", 200),
    ("blocks.unblock", "DELETE", UNBLOCK, {"headers": {"Idempotency-Key": "m-1"}}, "write", 200),
    ("charges.get", "GET", "/v1/accounts/acme/charges", {}, "read", 200),
    (
        "decisions",
        "GET",
        "/v1/decisions",
        {"params": {"to": "112", "account": "acme"}},
        "read",
        200,
    ),
    ("operator_blocks", "GET", "/v1/operator-blocks", {}, "public", 200),
    ("rules.get", "GET", "/v1/rules", {}, "operator", 200),
    ("keys.list", "GET", "/v1/keys", {}, "operator", 200),
    ("keys.create", "POST", "/v1/keys", {"json": {"role": "operator"}}, "operator", 201),
    # No such key: the operator reaches the handler and gets its 404.
    ("keys.revoke", "DELETE", "/v1/keys/key_nope", {}, "operator", 404),
    ("keys.rotate", "POST", "/v1/keys/key_nope/rotate", {}, "operator", 404),
    ("rules.reload", "POST", "/v1/rules/reload", {}, "operator", 200),
    ("rules.status", "GET", "/v1/rules/status", {}, "operator", 200),
]


def _call(api: Api, who: str | None, method: str, path: str, kwargs: dict[str, Any]) -> Any:
    headers = {**kwargs.get("headers", {}), **api.h(who)}
    rest = {k: v for k, v in kwargs.items() if k != "headers"}
    return api.client.request(method, path, headers=headers, **rest)


@pytest.mark.parametrize("who", list(EXPECTED["read"]))
@pytest.mark.parametrize(
    ("name", "method", "path", "kwargs", "kind", "success"),
    ENDPOINTS,
    ids=[e[0] for e in ENDPOINTS],
)
def test_matrix(
    api: Api,
    who: str | None,
    name: str,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    kind: str,
    success: int,
) -> None:
    expected = EXPECTED[kind][who]
    want = success if expected == OK else expected
    r = _call(api, who, method, path, kwargs)
    assert r.status_code == want, f"{name} as {who}: {r.status_code} {r.text}"
    if want >= 400:
        # A refused call changed nothing: no new version, no charge, no new account.
        assert api.store.get_account("acme").version == 1  # type: ignore[union-attr]
        assert api.store.charges("acme") == []
        assert api.store.list_accounts() == ["acme", "bravo"]
    if want == 404:
        # Indistinguishable from an account that does not exist (no enumeration).
        ghost = _call(
            api,
            "operator",
            method,
            path.replace("acme", "ghost"),
            {**kwargs, "params": {**kwargs.get("params", {}), "account": "ghost"}}
            if "params" in kwargs
            else kwargs,
        )
        assert ghost.status_code == 404
        assert r.json() == ghost.json() | {
            "message": ghost.json()["message"].replace("ghost", "acme")
        }


def test_every_v1_route_is_in_the_matrix(api: Api) -> None:
    """A new route must be added to ENDPOINTS (and so get its isolation checked)."""
    doc = api.client.get("/schema/openapi.json").json()
    routes = {
        (method.upper(), path)
        for path, ops in doc["paths"].items()
        if path.startswith("/v1/")
        for method in ops
    }
    covered = {
        (
            m,
            re.sub(
                r"/numbers/presentable/[0-9]+$",
                "/numbers/presentable/{number}",
                re.sub(r"/numbers/[0-9-]+/", "/numbers/{holding}/", p),
            )
            .replace("acme", "{account_id}")
            .replace("key_nope", "{key_id}")
            .replace("operator/premium-rate", "{kind}/{value}"),
        )
        for _, m, p, *_ in ENDPOINTS
    }
    assert routes == covered


def test_only_the_public_routes_lack_a_security_requirement(api: Api) -> None:
    """The OpenAPI document tells the truth: every keyed route requires a key, no other."""
    doc = api.client.get("/schema/openapi.json").json()
    security = {
        (method.upper(), path): op.get("security")
        for path, ops in doc["paths"].items()
        if path.startswith("/v1/")
        for method, op in ops.items()
    }
    assert {route for route, required in security.items() if not required} == PUBLIC
    keyed = {tuple(map(str, required)) for route, required in security.items() if required}
    assert keyed == {(str({"bearer": []}), str({"apiKey": []}))}
    assert "security" not in doc  # no document-wide requirement the public route inherits
    # And the matrix agrees: exactly the public routes answer without a key.
    assert {(m, p) for _, m, p, _, kind, _ in ENDPOINTS if kind == "public"} == PUBLIC
