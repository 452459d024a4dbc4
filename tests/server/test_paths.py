"""No API answer carries the server's paths: rule files are named relative to the rules dir.

Rule references (``rule.file`` of decisions, explanation steps, quotes and refusals) and
rule errors (a failed reload, the follower's status on /health) name ``blocks.toml``, not
``/srv/…/rules/blocks.toml``. ``GET /v1/rules`` (operators) names the directory once.
"""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from policy.percall.runtime import PolicyRuntime
from policy.state.store import SqliteStore

from ._wait import wait_until
from .conftest import HARD_BLOCK, NOW, Api, copy_rules, make_api

BROKEN = """
[[block]]
id = "broken"
reason = "operator_block"
prefixes = ["0900"]
liftable = "yes"
"""


@pytest.fixture
def rules_dir(tmp_path: pathlib.Path) -> pathlib.Path:
    """An absolute, writable copy of the shipped rules with a hard block (+881)."""
    path = copy_rules(tmp_path / "srv" / "callpolicy" / "rules", HARD_BLOCK)
    assert path.is_absolute()
    return path


@pytest.fixture
def live(store: SqliteStore, rules_dir: pathlib.Path) -> Iterator[Api]:
    yield from make_api(store, PolicyRuntime(str(rules_dir), NOW), rules_dir)


def _no_server_path(r: Any, rules_dir: pathlib.Path) -> Any:
    assert str(rules_dir.parent) not in r.text, f"{r.request.url}: {r.text}"
    return r


def _rule_files(value: Any) -> list[str]:
    """Every ``file`` anywhere in a JSON answer."""
    if isinstance(value, dict):
        own = [value["file"]] if isinstance(value.get("file"), str) else []
        return own + [f for v in value.values() for f in _rule_files(v)]
    if isinstance(value, list):
        return [f for v in value for f in _rule_files(v)]
    return []


def test_no_answer_contains_the_rules_directory(live: Api, rules_dir: pathlib.Path) -> None:
    c, op, admin = live.client, live.h("operator"), live.h("admin_a")
    answers = [
        c.get("/v1/decisions", params={"to": "09001 123456", "account": "acme"}, headers=op),
        c.get("/v1/decisions", params={"to": "+881 612345678"}, headers=admin),
        c.get("/v1/decisions", params={"to": "11833"}, headers=admin),
        c.get("/v1/accounts/acme/blocks/operator/premium-rate/unblock-quote", headers=admin),
        c.get("/v1/accounts/acme/blocks/operator/satellite/unblock-quote", headers=admin),
        c.delete(
            "/v1/accounts/acme/blocks/operator/satellite",
            headers=live.h("admin_a", Idempotency_Key="k"),
        ),
        c.get("/v1/operator-blocks"),
        c.get("/v1/operator-blocks", params={"format": "csv"}),
        c.get("/health"),
        c.get("/ready"),
    ]
    assert [r.status_code for r in answers] == [200] * 5 + [409] + [200] * 4
    files = [f for r in answers[:6] for f in _rule_files(_no_server_path(r, rules_dir).json())]
    assert "blocks.toml" in files and "numbering_plan.toml" in files
    assert set(files) <= {"blocks.toml", "numbering_plan.toml"}, files
    for r in answers[6:]:
        _no_server_path(r, rules_dir)

    # A failed reload names every file relative to the directory, a missing one too.
    with (rules_dir / "blocks.toml").open("a", encoding="utf-8") as fh:
        fh.write(BROKEN)
    (rules_dir / "clip.toml").unlink()
    r = _no_server_path(c.post("/v1/rules/reload", headers=op), rules_dir)
    assert r.status_code == 422
    assert {(e["file"], e["code"]) for e in r.json()["errors"]} == {
        ("blocks.toml", "rule_schema_error"),
        ("clip.toml", "rule_file_error"),
    }
    # So does the follower's status when a reload published elsewhere fails here.
    live.store.publish_rules_change(NOW)
    wait_until(lambda: c.get("/health").json()["rules_follower"] != "OK", "the follower's reload")
    health = _no_server_path(c.get("/health"), rules_dir).json()
    assert "blocks.toml:" in health["rules_follower"], health

    # The one place the directory is named: the operator's view of the running rules.
    assert c.get("/v1/rules", headers=op).json()["directory"] == str(rules_dir)
