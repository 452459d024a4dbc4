"""Follow the store's change feed: account changes and rules reloads without a restart.

An account event for one of this edge's accounts re-reads the account and hands it to
the core (through ``apply``, which the shell runs on the event loop): it applies to the
next INVITE. A rules event recompiles the rules (``PolicyRuntime.reload``: the running
snapshot is swapped only when the new one compiles). Calls in progress keep going: their
transactions hold everything they need, and nothing re-decides them.

Also here: the power-dialer escalation (clause 7.2), run off the hot path by the shell
for an :class:`~sip_edge.core.proxy.Escalate` effect: ``policy.escalate`` (a child
process, ~150 ms) and then ``store.update_account`` to raise the account's dialer flag.
Flags only go up here; an operator clears them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import msgspec

from policy import (
    Account,
    AccountNotFound,
    ChangeEvent,
    Escalation,
    FeedFollower,
    PolicyRuntime,
    State,
    Store,
    escalate,
)

from .core.proxy import Escalate

__all__ = ["EdgeFollower", "State", "apply_escalations", "run_escalation"]

log = logging.getLogger("callpolicy.sip_edge")

#: Seconds one wait on the feed lasts; bounds how long ``stop()`` takes.
WAIT = 0.5
#: Seconds between two reads of the feed: how late a change may reach the next INVITE.
POLL = 0.1
_RANK = {"none": 0, "warn": 1, "throttle": 2, "suspend": 3}

Apply = Callable[[str, Account | None], None]


class EdgeFollower(FeedFollower):
    """Reads the edge's accounts and follows the change feed (a thread, or ``step()``).

    Call ``load()`` before ``start()`` or ``step()``: it sets the feed position the
    accounts were read at.
    """

    WAIT = WAIT
    THREAD_NAME = "sip-edge-follower"

    def __init__(
        self,
        store: Store,
        runtime: PolicyRuntime,
        accounts: Iterable[str],
        apply: Apply,
        clock: Callable[[], float],
        node: str = "",
    ) -> None:
        """Follow ``accounts`` (ids); ``apply(id, account or None)`` gets each new state;
        report what this worker serves as ``node``."""
        super().__init__(store, runtime, clock, log, node=node, kind="edge")
        self._accounts = frozenset(accounts)
        self._apply = apply

    def load(self) -> None:
        """Read every account once and remember where the feed is (before ``step``)."""
        self._seq = self._store.last_seq()
        for account_id in sorted(self._accounts):
            account = self._store.get_account(account_id)
            if account is None:
                log.warning("sip_edge: trunk account %r is not in the store", account_id)
            self._apply(account_id, account)
        self.state, self.message = "OK", f"loaded {len(self._accounts)} accounts"

    def _read(self, timeout: float) -> list[ChangeEvent]:
        """The store's own blocking wait where the server notifies (Redis: XREAD BLOCK costs
        nothing while idle, and a change arrives at once); else poll ``changes_since``
        every ``POLL`` seconds until events come or ``timeout``: SQLite's own wait polls
        every 5 ms, measurable CPU on an idle edge.
        """
        if self._store.notifies:
            return self._store.wait_changes(self._seq, timeout)
        events = self._store.changes_since(self._seq)
        deadline = self._clock() + timeout
        while not events and self._clock() < deadline and not self._stop.is_set():
            self._stop.wait(min(POLL, max(0.0, deadline - self._clock())))
            events = self._store.changes_since(self._seq)
        return events

    def _on_account(self, event: ChangeEvent) -> None:
        """Hand one of this edge's accounts to the core; it applies to the next INVITE."""
        if event.account in self._accounts:
            self._apply(event.account, self._store.get_account(event.account))


def apply_escalations(store: Store, escalations: Iterable[Escalation], now: float) -> list[str]:
    """Raise each account's dialer flag to its escalation level; returns the ids changed."""
    changed = []
    for esc in escalations:
        if esc.level == "none":
            continue

        def raise_flag(account: Account, level: str = esc.level) -> Account:
            if _RANK[level] <= _RANK[account.dialer_flag]:
                return account
            return msgspec.structs.replace(account, dialer_flag=level)

        before = store.get_account(esc.account)
        if before is None or _RANK[esc.level] <= _RANK[before.dialer_flag]:
            continue  # an update would bump the version and wake every follower for nothing
        try:
            after = store.update_account(esc.account, raise_flag, now)
        except AccountNotFound:
            continue
        if before.dialer_flag != after.dialer_flag:
            changed.append(esc.account)
            log.warning("sip_edge: account %s dialer flag -> %s", esc.account, esc.level)
    return changed


def run_escalation(store: Store, effect: Escalate, now: float) -> list[str]:
    """Evaluate an Escalate effect and store the result (blocking: run it in an executor)."""
    return apply_escalations(store, escalate(effect.rules, effect.totals), now)
