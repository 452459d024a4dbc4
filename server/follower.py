"""Follow the change feed so every API process runs the same rules.

A reload arrives at one worker process (or one API instance); it publishes a ``rules``
event (``Store.publish_rules_change``), and every other process reloads when it sees the
event here. Account events need nothing: handlers read accounts from the store, and the
runtime's cache of compiled accounts is keyed by account version.

One life cycle (OPA plugins): ``start()``, ``stop()``, and a ``status`` of ``NOT_READY |
OK | WARN | ERROR`` with a message, shown on ``/health``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from policy.follower import State, reload_for_event
from policy.runtime import PolicyRuntime
from policy.store import Store

__all__ = ["RulesFollower", "State"]

log = logging.getLogger("callpolicy.server")

#: Seconds one wait on the feed lasts; bounds how long ``stop()`` takes.
WAIT = 0.1


class RulesFollower:
    """A thread that reloads the runtime on every ``rules`` event published elsewhere."""

    def __init__(self, store: Store, runtime: PolicyRuntime, clock: Callable[[], float]) -> None:
        """Follow ``store``'s feed; reload ``runtime`` with times from ``clock``."""
        self._store = store
        self._runtime = runtime
        self._clock = clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._own: set[int] = set()
        self.lock = threading.Lock()
        """Held while a local reload publishes its event, so the event is known as ours."""
        self._state: State = "NOT_READY"
        self._message = "not started"

    @property
    def status(self) -> tuple[State, str]:
        """The state and a message saying why."""
        return self._state, self._message

    def start(self) -> None:
        """Begin following from the newest event (the rules just loaded are current)."""
        if self._thread is not None:
            return
        seq = self._store.last_seq()
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, args=(seq,), name="callpolicy-rules-follower", daemon=True
        )
        self._state, self._message = "OK", f"following the change feed from seq {seq}"
        self._thread.start()

    def stop(self) -> None:
        """Stop following (returns within about ``WAIT`` seconds)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join()
        self._state, self._message = "NOT_READY", "stopped"

    def published(self, seq: int) -> None:
        """Record that this process published rules event ``seq`` (call with ``lock`` held)."""
        self._own.add(seq)

    def _run(self, seq: int) -> None:
        while not self._stop.is_set():
            try:
                events = self._store.wait_changes(seq, WAIT)
            except Exception as exc:  # noqa: BLE001  # store down: report, retry, never die
                self._state, self._message = "ERROR", f"change feed unreadable: {exc}"
                self._stop.wait(WAIT)
                continue
            for event in events:
                seq = max(seq, event.seq)
                if event.kind == "rules":
                    self._on_rules(event.seq)
            if self._state == "ERROR":
                self._state, self._message = "OK", f"following the change feed at seq {seq}"

    def _on_rules(self, seq: int) -> None:
        with self.lock:
            if seq in self._own:
                self._own.discard(seq)
                return
        self._state, self._message = reload_for_event(self._runtime, self._clock(), seq, log)
