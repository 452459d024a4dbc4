"""The HTTP error contract (issue 11), through the test client and a real server process.

- a JSON body nested deeper than the decoder goes: 400 ``ErrorV1`` on every route with a
  JSON body (it was a RecursionError: 500);
- a JSON body sent as text/plain, form data, XML or without a Content-Type: 415;
- the store unreachable (Redis stopped) or busy (SQLite locked): 503 with ``Retry-After``
  on every store-backed route, ``/health`` ``degraded``; once Redis is back, all recovers
  by itself;
- the OpenAPI document: every status the auth matrix pins is documented for its
  operation, ``x-roles`` says who passes, errors have the ``ErrorV1`` body, 503 its
  ``Retry-After``; the docs page loads nothing from another host.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis
from litestar import Litestar, Router, get
from litestar.middleware import DefineMiddleware
from litestar.testing import TestClient

from policy import Snapshot
from policy.percall.runtime import PolicyRuntime
from policy.state.store import RedisStore, SqliteStore, StoreUnavailable
from policy.state.store import sqlite as sqlite_module
from server import ServerConfig, create_app
from server.auth import ApiKeyAuth, add_key
from server.errors import RETRY_AFTER_SECONDS
from server.openapi import ASSETS_DIR, document
from tests._procs import free_port, stop

from . import test_auth
from ._serve import Server
from ._serve import add_key as cli_add_key
from ._wait import wait_until
from .conftest import ACME, NOW, RULES, Api

REDIS_SERVER = shutil.which("redis-server")
DEEP = b"[" * 5000 + b"]" * 5000
DEEP_IN_A_FIELD = b'{"id": "deep", "name": ' + b"[" * 5000 + b"]" * 5000 + b"}"
NOT_JSON_TYPES = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
    None,
]


def _doc(api: Api) -> dict[str, Any]:
    return api.client.get("/schema/openapi.json").json()  # type: ignore[no-any-return]


def _body_routes(doc: dict[str, Any]) -> list[tuple[str, str]]:
    """(method, concrete path about acme) of every operation with a request body."""
    out = []
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if isinstance(op, dict) and "requestBody" in op:
                concrete = path.replace("{account_id}", "acme")
                out.append((method.upper(), re.sub(r"\{[^}]+\}", "x", concrete)))
    return out


def _is_error_v1(body: dict[str, Any], code: str) -> bool:
    return set(body) == {"code", "message", "errors", "rule"} and body["code"] == code


# -- 400: JSON nested too deeply ----------------------------------------------------------


def test_deep_json_is_400_on_every_route_with_a_body(api: Api) -> None:
    routes = _body_routes(_doc(api))
    assert len(routes) >= 14  # the check must see the routes
    for method, path in routes:
        for body in (DEEP, DEEP_IN_A_FIELD):
            r = api.client.request(
                method,
                path,
                content=body,
                headers=api.h("operator", Content_Type="application/json"),
            )
            assert r.status_code == 400, (method, path, r.status_code, r.text)
            assert _is_error_v1(r.json(), "invalid_request")
            assert r.json()["errors"] == [
                {"key": "", "source": "body", "message": "JSON nested too deeply"}
            ]


def test_a_deep_body_where_none_is_read_is_ignored(api: Api) -> None:
    r = api.client.request(
        "GET",
        "/v1/accounts",
        content=DEEP,
        headers=api.h("operator", Content_Type="application/json"),
    )
    assert r.status_code == 200


def test_moderately_nested_json_still_reaches_validation(api: Api) -> None:
    body = b'{"id": "x", "name": ' + b"[" * 50 + b"]" * 50 + b"}"
    r = api.client.post(
        "/v1/accounts", content=body, headers=api.h("operator", Content_Type="application/json")
    )
    assert r.status_code == 400
    assert r.json()["errors"][0]["key"] == "name"


# -- 415: a JSON body that is not declared JSON ---------------------------------------------


@pytest.mark.parametrize("content_type", NOT_JSON_TYPES)
def test_a_body_not_sent_as_json_is_415_on_every_route_with_a_body(
    api: Api, content_type: str | None
) -> None:
    extra = {"Content_Type": content_type} if content_type else {}
    for method, path in _body_routes(_doc(api)):
        r = api.client.request(
            method, path, content=b'{"id": "zz"}', headers=api.h("operator", **extra)
        )
        assert r.status_code == 415, (method, path, r.status_code, r.text)
        assert _is_error_v1(r.json(), "unsupported_media_type")
    assert api.store.get_account("zz") is None  # nothing was created on the way


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Application/JSON",
        "application/vnd.callpolicy+json",
    ],
)
def test_json_and_plus_json_are_accepted(api: Api, content_type: str) -> None:
    r = api.client.post(
        "/v1/accounts",
        content=b'{"id": "zz"}',
        headers=api.h("operator", Content_Type=content_type),
    )
    assert r.status_code == 201, r.text


def test_the_guard_answers_before_the_media_type(api: Api) -> None:
    """Who may not use the route learns that first (403/404, never 415)."""
    headers = {"Content-Type": "text/plain"}
    r = api.client.post("/v1/accounts", content=b"x", headers={**api.h("admin_a"), **headers})
    assert r.status_code == 403
    r = api.client.post(
        "/v1/accounts/bravo/blocks", content=b"x", headers={**api.h("admin_a"), **headers}
    )
    assert r.status_code == 404
    assert api.client.post("/v1/accounts", content=b"x", headers=headers).status_code == 401


# -- 503: the store unavailable ---------------------------------------------------------


class RedisProc:
    """A private redis-server (AOF on, like production) that a test may stop and start."""

    def __init__(self, workdir: pathlib.Path) -> None:
        assert REDIS_SERVER is not None
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.cmd = [
            REDIS_SERVER,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "yes",
            "--appendfsync", "always",
            "--dir", str(workdir),
            "--logfile", str(workdir / "redis.log"),
        ]  # fmt: skip
        self.proc: subprocess.Popen[bytes] | None = None

    def _pings(self) -> bool:
        assert self.proc is not None and self.proc.poll() is None, "redis-server exited"
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False
        finally:
            client.close()

    def start(self) -> None:
        self.proc = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wait_until(self._pings, "redis-server to answer PING")

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, 10)


@pytest.fixture
def own_redis(tmp_path: pathlib.Path) -> Iterator[RedisProc]:
    """A redis-server of this test only (stopping it disturbs no other test)."""
    if REDIS_SERVER is None:
        pytest.skip("redis-server binary not found on PATH (CI installs it)")
    server = RedisProc(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _assert_503(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert r.headers["retry-after"] == str(RETRY_AFTER_SECONDS)
    assert _is_error_v1(r.json(), "store_unavailable")
    assert "127.0.0.1" not in r.text  # no details of the backend go out


#: Store-backed calls of each kind: a key lookup (unknown key), reads, a write, a charge.
def _store_calls(op: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("GET", "/v1/accounts", {"headers": op}),
        ("GET", "/v1/accounts/acme", {"headers": op}),
        ("GET", "/v1/decisions", {"headers": op, "params": {"to": "112", "account": "acme"}}),
        ("POST", "/v1/accounts", {"headers": op, "json": {"id": "new"}}),
        (
            "POST",
            "/v1/accounts/acme/blocks",
            {"headers": op, "json": {"kind": "country", "value": "44"}},
        ),
        ("GET", "/v1/accounts", {"headers": {"Authorization": "Bearer cpk_unknown"}}),
    ]


def test_redis_down_is_503_then_recovers(own_redis: RedisProc, snapshot: Snapshot) -> None:
    store = RedisStore(own_redis.url)
    store.create_account(ACME, NOW)
    key = add_key(store, "operator", None)[0]
    runtime = PolicyRuntime(str(RULES), NOW, compiler=lambda _: snapshot)
    app = create_app(
        ServerConfig(rules_dir=str(RULES), store_url="unused"), store=store, runtime=runtime
    )
    op = {"Authorization": f"Bearer {key}"}
    try:
        with TestClient(app) as c:
            assert c.get("/v1/accounts", headers=op).status_code == 200
            assert c.get("/health").json() == {"status": "ok", "rules_follower": "OK"}
            own_redis.stop()
            for method, path, kwargs in _store_calls(op):
                _assert_503(c.request(method, path, **kwargs))
            wait_until(lambda: c.get("/health").json()["status"] == "degraded", "degraded")
            health = c.get("/health")
            assert health.status_code == 200
            assert health.json()["degraded"] == ["rules_follower"]
            assert health.json()["rules_follower"].startswith("ERROR: ")
            assert c.get("/ready").status_code == 503
            # What does not need the store keeps answering.
            assert c.get("/v1/operator-blocks").status_code == 200

            own_redis.start()
            wait_until(lambda: c.get("/v1/accounts", headers=op).status_code == 200, "recovery")
            assert c.get("/v1/accounts/acme", headers=op).json()["id"] == "acme"
            wait_until(lambda: c.get("/health").json()["status"] == "ok", "health ok again")
            assert c.get("/ready").status_code == 200
    finally:
        store.close()


def test_a_locked_sqlite_database_is_503(
    tmp_path: pathlib.Path, snapshot: Snapshot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "BUSY_TIMEOUT", 0.05)  # fail fast, not in 30 s
    path = tmp_path / "state.db"
    store = SqliteStore(str(path))
    store.create_account(ACME, NOW)
    key = add_key(store, "operator", None)[0]
    runtime = PolicyRuntime(str(RULES), NOW, compiler=lambda _: snapshot)
    app = create_app(
        ServerConfig(rules_dir=str(RULES), store_url="unused.db"), store=store, runtime=runtime
    )
    locker = sqlite3.connect(path, isolation_level=None)
    op = {"Authorization": f"Bearer {key}"}
    try:
        with TestClient(app) as c:
            locker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
            _assert_503(c.post("/v1/accounts", json={"id": "new"}, headers=op))
            locker.execute("ROLLBACK")
            assert c.post("/v1/accounts", json={"id": "new"}, headers=op).status_code == 201
    finally:
        locker.close()
        store.close()


def test_an_unopenable_sqlite_database_is_unavailable(tmp_path: pathlib.Path) -> None:
    with pytest.raises(StoreUnavailable, match="unable to open"):
        SqliteStore(str(tmp_path / "no-such-dir" / "state.db"))


# -- through a real server process -------------------------------------------------------


def test_the_contract_through_a_real_server(own_redis: RedisProc, tmp_path: pathlib.Path) -> None:
    key = cli_add_key(own_redis.url, "operator")
    op = {"Authorization": f"Bearer {key}"}
    log = str(tmp_path / "server.log")
    with (
        Server(str(RULES), own_redis.url, log=log) as server,
        httpx.Client(base_url=server.url, timeout=30) as c,
    ):
        assert c.post("/v1/accounts", json={"id": "acme"}, headers=op).status_code == 201
        # 415: JSON as text/plain, and no Content-Type at all.
        for extra in ({"Content-Type": "text/plain"}, {}):
            r = c.post("/v1/accounts", content=b'{"id": "b"}', headers={**op, **extra})
            assert r.status_code == 415, r.text
            assert _is_error_v1(r.json(), "unsupported_media_type")
        # 400: nested too deeply.
        json_op = {**op, "Content-Type": "application/json"}
        r = c.post("/v1/accounts/acme/blocks", content=DEEP, headers=json_op)
        assert r.status_code == 400, r.text
        assert r.json()["message"] == "JSON nested too deeply"
        # 503 while Redis is down, then back by itself.
        own_redis.stop()
        _assert_503(c.get("/v1/accounts/acme", headers=op))
        _assert_503(c.post("/v1/accounts", json={"id": "c"}, headers=op))
        wait_until(lambda: c.get("/health").json()["status"] == "degraded", "degraded")
        own_redis.start()
        wait_until(lambda: c.get("/v1/accounts", headers=op).status_code == 200, "recovery")
        assert c.get("/v1/accounts", headers=op).json() == {"accounts": ["acme"]}
        wait_until(lambda: c.get("/health").json()["status"] == "ok", "health ok again")
    assert "Traceback" not in pathlib.Path(log).read_text()


# -- the OpenAPI document ------------------------------------------------------------------

_ROLE_OF = {"operator": "operator", "admin_a": "admin", "employee_a": "employee"}


def _template(doc: dict[str, Any], path: str) -> str:
    """The document's path template of a concrete path (the most literal one)."""
    matches = [
        t
        for t in doc["paths"]
        if re.fullmatch(re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(t)), path)
    ]
    assert matches, path
    return str(min(matches, key=lambda t: t.count("{")))


@pytest.mark.parametrize(
    ("name", "method", "path", "kind", "success"),
    [(e[0], e[1], e[2], e[4], e[5]) for e in test_auth.ENDPOINTS],
    ids=[e[0] for e in test_auth.ENDPOINTS],
)
def test_the_document_agrees_with_the_auth_matrix(
    api: Api, name: str, method: str, path: str, kind: str, success: int
) -> None:
    doc = _doc(api)
    op = doc["paths"][_template(doc, path)][method.lower()]
    statuses = {
        success if want == test_auth.OK else want for want in test_auth.EXPECTED[kind].values()
    }
    assert {str(s) for s in statuses} <= set(op["responses"]), name
    passes = [
        role for who, role in _ROLE_OF.items() if test_auth.EXPECTED[kind][who] == test_auth.OK
    ]
    assert op["x-roles"] == (["anyone"] if kind == "public" else passes), name
    assert "**Roles**" in op["description"], name


def test_every_error_is_documented_with_the_error_body(api: Api) -> None:
    doc = _doc(api)
    assert {"ErrorV1", "FieldErrorV1", "RuleErrorsV1"} <= set(doc["components"]["schemas"])
    ops = [(p, m, op) for p, item in doc["paths"].items() for m, op in item.items()]
    for path, method, op in ops:
        keyed = bool(op.get("security"))
        responses = op["responses"]
        for status, response in responses.items():
            assert response["description"].strip(), (method, path, status)
            if status[0] in "45":
                ref = response["content"]["application/json"]["schema"]["$ref"]
                assert ref.rsplit("/", 1)[1] in {"ErrorV1", "RuleErrorsV1", "ReadyV1"}
        if keyed:
            assert {"401", "503"} <= set(responses), (method, path)
            assert "Retry-After" in responses["503"]["headers"]
            assert "WWW-Authenticate" in responses["401"]["headers"]
        if "requestBody" in op:
            assert {"400", "413", "415"} <= set(responses), (method, path)
    reload = doc["paths"]["/v1/rules/reload"]["post"]["responses"]["422"]
    assert reload["content"]["application/json"]["schema"]["$ref"].endswith("/RuleErrorsV1")
    ready = doc["paths"]["/ready"]["get"]["responses"]["503"]
    assert ready["content"]["application/json"]["schema"]["$ref"].endswith("/ReadyV1")
    unblock = doc["paths"]["/v1/accounts/{account_id}/blocks/{kind}/{value}"]["delete"]
    assert {"409", "422"} <= set(unblock["responses"])


def test_the_csv_media_type_is_documented(api: Api) -> None:
    ok = _doc(api)["paths"]["/v1/operator-blocks"]["get"]["responses"]["200"]
    assert set(ok["content"]) == {"application/json", "text/csv"}
    r = api.client.get("/v1/operator-blocks", headers={"Accept": "text/csv"})
    assert r.headers["content-type"].startswith("text/csv")


def test_a_guard_without_roles_fails_at_boot() -> None:
    def undocumented(*_: object) -> None: ...

    @get("/thing", guards=[undocumented], sync_to_thread=False)
    def thing() -> None: ...

    keyed = Router("/v1", route_handlers=[thing], middleware=[DefineMiddleware(ApiKeyAuth)])
    with pytest.raises(RuntimeError, match=r"GET /v1/thing: guard 'undocumented' has no roles"):
        document(Litestar([keyed]))


# -- the docs page works offline -----------------------------------------------------------


@pytest.mark.parametrize("page", ["/schema", "/schema/redoc"])
def test_the_docs_page_loads_nothing_from_another_host(api: Api, page: str) -> None:
    r = api.client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    html = r.text.split("Redoc.init(", 1)[0]  # the page, not the embedded document
    urls = re.findall(r"""(?:src|href)=["']([^"']*)["']""", html)
    assert urls, html
    assert all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assert "http://" not in html and "https://" not in html
    for url in urls:
        asset = api.client.get(url)
        assert asset.status_code == 200, url
        assert asset.content == (ASSETS_DIR / url.rsplit("/", 1)[1]).read_bytes()
        assert "javascript" in asset.headers["content-type"]


def test_no_docs_page_of_a_cdn_is_left(api: Api) -> None:
    for page in ("/schema/swagger", "/schema/elements", "/schema/rapidoc"):
        assert api.client.get(page).status_code == 404


def test_the_vendored_assets_are_recorded(api: Api) -> None:
    readme = (ASSETS_DIR / "README.md").read_text()
    assert "2.5.2" in readme and "MIT" in readme
    assert (ASSETS_DIR / "LICENSE-redoc").exists()
