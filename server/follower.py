"""Follow the change feed so every API process runs the same rules.

A reload arrives at one worker process (or one API instance); it publishes a ``rules``
event (``Store.publish_rules_change``), and every other process reloads when it sees the
event here. Account events need nothing: handlers read accounts from the store, and the
runtime's cache of compiled accounts is keyed by account version.

The life cycle (``start()``, ``stop()``, ``status`` shown on ``/health``) is
``policy.FeedFollower``'s.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from policy import ChangeEvent, FeedFollower, PolicyRuntime, State, Store

__all__ = ["RulesFollower", "State"]

log = logging.getLogger("callpolicy.server")

#: Seconds one wait on the feed lasts; bounds how long ``stop()`` takes.
WAIT = 0.1


class RulesFollower(FeedFollower):
    """A thread that reloads the runtime on every ``rules`` event published elsewhere."""

    WAIT = WAIT
    THREAD_NAME = "callpolicy-rules-follower"

    def __init__(
        self, store: Store, runtime: PolicyRuntime, clock: Callable[[], float], node: str = ""
    ) -> None:
        """Follow ``store``'s feed; reload ``runtime`` with times from ``clock``; report
        what this process serves as ``node``."""
        super().__init__(store, runtime, clock, log, node=node, kind="api")
        self._own: set[int] = set()
        self.lock = threading.Lock()
        """Held while a local reload publishes its event, so the event is known as ours."""

    def published(self, seq: int) -> None:
        """Record that this process published rules event ``seq`` (call with ``lock`` held)."""
        self._own.add(seq)

    def _on_start(self) -> None:
        """Begin from the newest event: the rules just loaded are current."""
        self._seq = self._store.last_seq()
        self.state, self.message = "OK", f"following the change feed from seq {self._seq}"

    def _read(self, timeout: float) -> list[ChangeEvent]:
        """The store's own blocking wait: an API process has no idle-CPU budget to keep."""
        return self._store.wait_changes(self._seq, timeout)

    def _on_rules(self, seq: int) -> None:
        """Reload for a rules event, unless this process published it (it reloaded already)."""
        with self.lock:
            if seq in self._own:
                self._own.discard(seq)
                return
        super()._on_rules(seq)
