"""The change-feed follower (server/follower.py): reload on rules events from elsewhere."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from policy import RuleError, RuleErrors, Snapshot
from policy.percall.runtime import PolicyRuntime
from policy.state.accounts import Account
from policy.state.store import SqliteStore
from server.follower import RulesFollower

from ._wait import wait_until
from .conftest import NOW, RULES


class Compiler:
    """Counts compiles; fails while ``broken``."""

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self.calls = 0
        self.broken = False

    def __call__(self, _: str) -> Snapshot:
        self.calls += 1
        if self.broken:
            raise RuleErrors([RuleError("rule_parse_error", "blocks.toml", 3, "", "x", "TOML")])
        return self.snapshot


@pytest.fixture
def compiler(snapshot: Snapshot) -> Compiler:
    return Compiler(snapshot)


@pytest.fixture
def follower(store: SqliteStore, compiler: Compiler) -> Iterator[RulesFollower]:
    runtime = PolicyRuntime(str(RULES), NOW, compiler=compiler)
    f = RulesFollower(store, runtime, lambda: NOW)
    assert f.status == ("NOT_READY", "not started")
    f.start()
    yield f
    f.stop()
    assert f.status[0] == "NOT_READY"


def test_reloads_on_a_rules_event_from_elsewhere(
    follower: RulesFollower, store: SqliteStore, compiler: Compiler
) -> None:
    assert compiler.calls == 1
    store.publish_rules_change(NOW)
    wait_until(lambda: compiler.calls == 2, "a reload")
    wait_until(lambda: follower.status[1].startswith("reloaded"), "the status")
    assert follower.status[0] == "OK"


def test_skips_its_own_event_and_account_events(
    follower: RulesFollower, store: SqliteStore, compiler: Compiler
) -> None:
    with follower.lock:
        follower.published(store.publish_rules_change(NOW).seq)
    store.create_account(Account(id="a", npn="4930123"), NOW)
    store.publish_rules_change(NOW)  # from elsewhere: events are handled in order
    wait_until(lambda: compiler.calls >= 2, "the foreign event's reload")
    assert compiler.calls == 2


def test_a_failed_reload_warns_and_keeps_the_running_rules(
    follower: RulesFollower, store: SqliteStore, compiler: Compiler
) -> None:
    compiler.broken = True
    store.publish_rules_change(NOW)
    wait_until(lambda: follower.status[0] == "WARN", "the warning")
    assert "blocks.toml:3" in follower.status[1]
