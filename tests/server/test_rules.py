"""The running rules, reload, and the change feed between processes (routes/rules.py)."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator

import pytest
from litestar.testing import TestClient

from policy.percall.runtime import PolicyRuntime
from policy.state.store import SqliteStore
from server import ServerConfig, create_app

from ._wait import wait_until
from .conftest import NOW, Api, copy_rules, make_api

BROKEN = """
[[block]]
id = "broken"
reason = "operator_block"
prefixes = ["09OO"]
liftable = true

[[block]]
id = "broken2"
reason = "operator_block"
categories = ["no_such_category"]
"""

SATELLITE = """
[[block]]
id = "satellite"
reason = "country_blocked"
countries = ["881"]
liftable = false
"""


@pytest.fixture
def rules_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    """A writable copy of the shipped rules."""
    return copy_rules(tmp_path / "rules")


@pytest.fixture
def live(store: SqliteStore, rules_dir: pathlib.Path) -> Iterator[Api]:
    """The app on ``rules_dir``, compiled for real (so a reload recompiles it)."""
    yield from make_api(store, PolicyRuntime(str(rules_dir), NOW), rules_dir)


def test_rules_info(live: Api) -> None:
    r = live.client.get("/v1/rules", headers=live.h("operator"))
    assert r.status_code == 200
    info = r.json()
    assert info["version"] == 1
    assert len(info["revision"]) == 64
    assert info["loaded_at"] == NOW


def _decide(api: Api, to: str) -> str:
    r = api.client.get("/v1/decisions", params={"to": to}, headers=api.h("admin_a"))
    assert r.status_code == 200, r.text
    return str(r.json()["decision"]["verdict"])


def _decide_with(client: TestClient, api: Api, to: str) -> str:  # type: ignore[type-arg]
    r = client.get("/v1/decisions", params={"to": to}, headers=api.h("admin_a"))
    assert r.status_code == 200, r.text
    return str(r.json()["decision"]["verdict"])


def test_reload_swaps_the_rules_and_publishes_a_feed_event(
    live: Api, rules_dir: pathlib.Path
) -> None:
    before = live.client.get("/v1/rules", headers=live.h("operator")).json()
    assert _decide(live, "+881 612345678") == "allow"
    with (rules_dir / "blocks.toml").open("a") as fh:
        fh.write(SATELLITE)
    seq = live.store.last_seq()

    r = live.client.post("/v1/rules/reload", headers=live.h("operator"))
    assert r.status_code == 200, r.text
    info = r.json()["rules"]
    assert info["version"] == 2
    assert info["revision"] != before["revision"]
    assert _decide(live, "+881 612345678") == "block"
    (event,) = live.store.changes_since(seq)
    assert (event.kind, event.account, event.at) == ("rules", "", NOW)


def test_reload_with_broken_rules_is_422_with_every_error_and_keeps_the_running_rules(
    live: Api, rules_dir: pathlib.Path
) -> None:
    before = live.client.get("/v1/rules", headers=live.h("operator")).json()
    with (rules_dir / "blocks.toml").open("a") as fh:
        fh.write(BROKEN)
    seq = live.store.last_seq()

    r = live.client.post("/v1/rules/reload", headers=live.h("operator"))
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "rule_errors"
    assert body["message"].startswith("3 errors in the rule files")
    errors = body["errors"]
    assert [(pathlib.Path(e["file"]).name, e["code"]) for e in errors] == [
        ("blocks.toml", "rule_schema_error"),
        ("blocks.toml", "rule_schema_error"),
        ("blocks.toml", "rule_reference_error"),
    ]
    assert all(e["line"] > 0 for e in errors)
    assert errors[0]["path"] == "$.block[4].prefixes[0]"
    assert errors[0]["found"] == "'09OO'"
    assert errors[2]["found"] == "'no_such_category'"
    assert set(errors[0]) == {"code", "file", "line", "path", "found", "expected"}

    # The running rules are untouched, still answer, and nothing was published.
    assert live.client.get("/v1/rules", headers=live.h("operator")).json() == before
    assert _decide(live, "09001 123456") == "block"
    assert _decide(live, "030 9876543") == "allow"
    assert live.store.changes_since(seq) == []


def test_reload_with_unparsable_file_names_the_file(live: Api, rules_dir: pathlib.Path) -> None:
    with (rules_dir / "clip.toml").open("a") as fh:
        fh.write("\nx = [\n")
    r = live.client.post("/v1/rules/reload", headers=live.h("operator"))
    assert r.status_code == 422
    (error,) = r.json()["errors"]
    assert error["code"] == "rule_parse_error"
    assert error["file"].endswith("clip.toml")


def test_a_reload_reaches_every_process_through_the_change_feed(
    live: Api, rules_dir: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """A second app (another worker process) on the same store follows the reload."""
    other_store = SqliteStore(str(tmp_path / "state.db"))
    other_runtime = PolicyRuntime(str(rules_dir), NOW)
    config = ServerConfig(rules_dir=str(rules_dir), store_url="unused.db", node="api2")
    other = create_app(config, store=other_store, runtime=other_runtime, clock=lambda: NOW)
    with TestClient(other) as client:
        with (rules_dir / "blocks.toml").open("a") as fh:
            fh.write(SATELLITE)
        r = live.client.post("/v1/rules/reload", headers=live.h("operator"))
        assert r.status_code == 200
        revision = r.json()["rules"]["revision"]
        # The answer says what the other node did: it serves the new revision.
        nodes = {n["node"]: n for n in r.json()["nodes"]}
        assert nodes["api2"]["current"] and nodes["api2"]["revision"] == revision
        # The other process's follower reloads on the event.
        wait_until(lambda: other_runtime.info.revision == revision, "the follower's reload")
        health = client.get("/health").json()
        assert health == {"status": "ok", "rules_follower": "OK"}
        assert _decide_with(client, live, "+881 612345678") == "block"
    other_store.close()


def test_rules_status_shows_a_node_whose_reload_failed(
    live: Api, rules_dir: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    """A node that cannot load the published rules keeps its old ones and says why."""
    other_dir = tmp_path / "other-rules"
    other_dir.mkdir()
    for f in rules_dir.glob("*.toml"):
        (other_dir / f.name).write_text(f.read_text())
    other_store = SqliteStore(str(tmp_path / "state.db"))
    other_runtime = PolicyRuntime(str(other_dir), NOW)
    config = ServerConfig(rules_dir=str(other_dir), store_url="unused.db", node="api2")
    other = create_app(config, store=other_store, runtime=other_runtime, clock=lambda: NOW)
    with TestClient(other):
        with (other_dir / "blocks.toml").open("a") as fh:  # only that node's copy is broken
            fh.write(BROKEN)
        with (rules_dir / "blocks.toml").open("a") as fh:
            fh.write(SATELLITE)
        r = live.client.post("/v1/rules/reload", headers=live.h("operator"))
        assert r.status_code == 200
        api2 = next(n for n in r.json()["nodes"] if n["node"] == "api2")
        assert not api2["current"] and api2["state"] == "WARN"
        assert "blocks.toml:" in api2["reload_error"]
        status = live.client.get("/v1/rules/status", headers=live.h("operator")).json()
        assert {n["node"] for n in status["nodes"]} >= {"api2"}
        assert not next(n for n in status["nodes"] if n["node"] == "api2")["stale"]
    other_store.close()
