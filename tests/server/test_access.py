"""Request ids and the request log (server/access.py), in process and in ``python -m server``."""

from __future__ import annotations

import json
import logging
import pathlib
from collections.abc import Iterator

import httpx
import pytest
from litestar.testing import TestClient

from policy import Snapshot
from policy.percall.runtime import PolicyRuntime
from policy.state.store import SqliteStore
from server import ServerConfig, create_app

from ._serve import Server
from .conftest import NOW, RULES

ACCESS = "callpolicy.server.access"


@pytest.fixture
def client(store: SqliteStore, snapshot: Snapshot) -> Iterator[TestClient]:  # type: ignore[type-arg]
    runtime = PolicyRuntime(str(RULES), NOW, compiler=lambda _: snapshot)
    config = ServerConfig(rules_dir=str(RULES), store_url="unused.db", access_log=True)
    with TestClient(create_app(config, store=store, runtime=runtime, clock=lambda: NOW)) as c:
        yield c


def _access(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == ACCESS]


def test_a_well_formed_request_id_is_kept_and_logged(
    client: TestClient,  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, ACCESS)
    r = client.get("/health", headers={"X-Request-Id": "pbx-7:call.42_a"})

    assert r.headers["x-request-id"] == "pbx-7:call.42_a"
    [record] = _access(caplog)
    assert record.getMessage() == "GET /health 200"
    assert vars(record)["request_id"] == "pbx-7:call.42_a"
    assert vars(record)["status"] == 200
    assert vars(record)["method"] == "GET"
    assert vars(record)["duration_ms"] >= 0


@pytest.mark.parametrize("given", ["", "has space", "x" * 129, "semi;colon", "ümlaut"])
def test_a_malformed_request_id_is_replaced(
    given: str,
    client: TestClient,  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, ACCESS)
    r = client.get("/health", headers={"X-Request-Id": given.encode()})

    rid = r.headers["x-request-id"]
    assert rid != given
    assert len(rid) == 32
    assert int(rid, 16) >= 0
    assert vars(_access(caplog)[0])["request_id"] == rid


def test_every_request_gets_its_own_id(client: TestClient) -> None:  # type: ignore[type-arg]
    ids = {client.get("/health").headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


def test_unrouted_and_refused_requests_are_logged_without_the_query(
    client: TestClient,  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, ACCESS)
    assert client.get("/nowhere").status_code == 404
    assert client.get("/v1/decisions", params={"to": "+4930555000"}).status_code == 401

    lines = [(vars(r)["path"], vars(r)["status"], r.getMessage()) for r in _access(caplog)]
    assert lines == [
        ("/nowhere", 404, "GET /nowhere 404"),
        ("/v1/decisions", 401, "GET /v1/decisions 401"),
    ]
    assert "4930555000" not in caplog.text


def test_the_request_log_can_be_off_but_ids_are_still_given(
    api_off: TestClient,  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, ACCESS)
    assert api_off.get("/health", headers={"X-Request-Id": "r1"}).headers["x-request-id"] == "r1"
    assert _access(caplog) == []


@pytest.fixture
def api_off(store: SqliteStore, snapshot: Snapshot) -> Iterator[TestClient]:  # type: ignore[type-arg]
    runtime = PolicyRuntime(str(RULES), NOW, compiler=lambda _: snapshot)
    config = ServerConfig(rules_dir=str(RULES), store_url="unused.db", access_log=False)
    with TestClient(create_app(config, store=store, runtime=runtime, clock=lambda: NOW)) as c:
        yield c


def test_the_served_api_logs_json_lines_with_request_ids(tmp_path: pathlib.Path) -> None:
    """``python -m server serve`` with its defaults: JSON lines, the request log on."""
    log = tmp_path / "server.log"
    with Server(str(RULES), f"sqlite:///{tmp_path}/s.db", log=str(log)) as server:
        r = httpx.get(f"{server.url}/health", headers={"X-Request-Id": "probe-1"}, timeout=30)
        assert r.headers["x-request-id"] == "probe-1"
    events = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    assert all({"ts", "level", "logger", "msg"} <= e.keys() for e in events), events
    assert any(e["logger"].startswith("uvicorn") for e in events)  # uvicorn's lines too
    [probe] = [e for e in events if e.get("request_id") == "probe-1"]
    assert probe["logger"] == ACCESS
    assert (probe["method"], probe["path"], probe["status"]) == ("GET", "/health", 200)
