"""policy/follower.py: the change-feed follower's life cycle, without a store or rules.

The loop is driven in the test's own thread (``_run`` with ``WAIT = 0``) wherever that
suffices; only the start/stop test runs the real daemon thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import cast

import pytest

from policy import (
    ChangeEvent,
    FeedFollower,
    PolicyRuntime,
    RuleError,
    RuleErrors,
    RulesInfo,
    Store,
    StoreError,
)

log = logging.getLogger("tests.follower")

Read = Callable[["Follower", float], list[ChangeEvent]]


class Runtime:
    """Stands in for PolicyRuntime: counts reloads; raises ``error`` when set."""

    def __init__(self) -> None:
        self.reloads = 0
        self.error: Exception | None = None

    def reload(self, now: float) -> RulesInfo:
        if self.error is not None:
            raise self.error
        self.reloads += 1
        return RulesInfo(
            version=self.reloads,
            revision="ab" * 32,
            loaded_at=now,
            directory="",
            classes=0,
            prefixes=0,
        )


class Follower(FeedFollower):
    """Reads through ``read``; records the account events it is handed."""

    WAIT = 0.0

    def __init__(self, read: Read, runtime: Runtime | None = None) -> None:
        no_store = cast(Store, None)  # ``_read`` stands in for the store
        super().__init__(no_store, cast(PolicyRuntime, runtime or Runtime()), lambda: 7.0, log)
        self.read = read
        self.accounts: list[str] = []

    def _read(self, timeout: float) -> list[ChangeEvent]:
        return self.read(self, timeout)

    def _on_account(self, event: ChangeEvent) -> None:
        if event.account == "broken":
            raise StoreError("store went away")
        self.accounts.append(event.account)


def account(seq: int, name: str) -> ChangeEvent:
    return ChangeEvent(seq=seq, account=name)


def rules(seq: int) -> ChangeEvent:
    return ChangeEvent(seq=seq, account="", kind="rules")


def test_is_abstract() -> None:
    with pytest.raises(TypeError, match="abstract"):
        FeedFollower(cast(Store, None), cast(PolicyRuntime, None), lambda: 0.0, log)  # type: ignore[abstract]


def test_step_applies_events_in_order_and_advances() -> None:
    asked: list[int] = []

    def read(f: Follower, timeout: float) -> list[ChangeEvent]:
        asked.append(f._seq)
        return [account(3, "a"), account(5, "b")]

    f = Follower(read)
    assert f.status == ("NOT_READY", "not started")
    assert f.step(0.0) == 2
    f.step(0.0)
    assert (f.accounts, asked) == (["a", "b", "a", "b"], [0, 5])


def test_an_event_that_fails_is_read_again() -> None:
    """The position moves past an event only once applied: a store outage loses nothing."""
    batches = [[account(1, "a"), account(2, "broken")], [account(2, "b")]]
    asked: list[int] = []

    def read(f: Follower, timeout: float) -> list[ChangeEvent]:
        asked.append(f._seq)
        return batches.pop(0)

    f = Follower(read)
    with pytest.raises(StoreError):
        f.step(0.0)
    f.step(0.0)
    assert (f.accounts, asked) == (["a", "b"], [0, 1])


def test_rules_events_reload_and_a_failed_reload_warns() -> None:
    runtime = Runtime()
    f = Follower(lambda f, t: [rules(4)], runtime)
    f.step(0.0)
    assert (runtime.reloads, f.status) == (1, ("OK", f"reloaded revision {'ab' * 6} (event 4)"))
    runtime.error = RuleErrors([RuleError("rule_parse_error", "blocks.toml", 3, "", "x", "TOML")])
    f.step(0.0)
    assert f.state == "WARN"
    assert "reload for feed event 4 failed" in f.message
    assert "blocks.toml:3" in f.message


def test_an_unreadable_feed_is_an_error_until_a_read_succeeds() -> None:
    states: list[tuple[str, str]] = []

    def outage(f: Follower, timeout: float) -> list[ChangeEvent]:
        states.append(f.status)
        if len(states) <= 2:
            raise StoreError("connection refused")
        f._stop.set()  # the loop ends after this read
        return [account(9, "a")]

    f = Follower(outage)
    f.state, f.message = "OK", "loaded"
    f._run()
    assert states == [
        ("OK", "loaded"),
        ("ERROR", "change feed unreadable: connection refused"),
        ("ERROR", "change feed unreadable: connection refused"),
    ]
    assert f.status == ("OK", "following the change feed at seq 9")


def test_start_and_stop() -> None:
    def idle(f: Follower, timeout: float) -> list[ChangeEvent]:
        f._stop.wait(0.05)
        return []

    f = Follower(idle)
    f.start()
    thread = f._thread
    assert thread is not None and thread.is_alive()
    f.start()  # already running: no second thread
    assert f._thread is thread
    f.stop()
    assert not thread.is_alive()
    assert f.status == ("NOT_READY", "stopped")
    f.stop()  # stopping twice is harmless
