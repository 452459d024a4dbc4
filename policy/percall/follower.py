"""Following the store's change feed, shared by the API and the edge.

Each process that runs the policy follows the store's change feed; a ``rules`` event means
another process reloaded. Reloading here compiles beside the running snapshot and swaps
only on success (PolicyRuntime.reload), so a broken rule file leaves the rules running and
the follower reports WARN with the located errors.

:class:`FeedFollower` is the one life cycle of every follower (style note 12, after OPA's
plugins): ``start()``, ``stop()`` and a ``status`` of ``NOT_READY | OK | WARN | ERROR``
with a message. A subclass says how it reads the feed and what an event means to it.
"""

from __future__ import annotations

import abc
import logging
import threading
from collections.abc import Callable
from typing import ClassVar, Literal

from policy.errors import EngineError, RuleErrors
from policy.percall.runtime import PolicyRuntime
from policy.state.accounts import ChangeEvent, NodeStatusV1
from policy.state.store import Store

__all__ = ["FeedFollower", "State", "reload_for_event"]

State = Literal["NOT_READY", "OK", "WARN", "ERROR"]


def reload_for_event(
    runtime: PolicyRuntime, now: float, seq: int, log: logging.Logger
) -> tuple[State, str]:
    """Reload ``runtime`` for feed event ``seq``; the follower's new state and message."""
    try:
        info = runtime.reload(now)
    except (RuleErrors, EngineError) as exc:
        message = f"reload for feed event {seq} failed: {exc}"
        log.warning("follower: %s", message)
        return "WARN", message
    message = f"reloaded revision {info.revision[:12]} (event {seq})"
    log.info("follower: %s", message)
    return "OK", message


class FeedFollower(abc.ABC):
    """A daemon thread that applies the change feed to this process until stopped.

    The thread calls ``step(WAIT)`` in a loop. A store that cannot be read must not kill
    it: the follower reports ERROR, waits ``WAIT`` seconds and tries again, and reports OK
    once a read succeeds. ``step`` is also public so tests and single-threaded callers can
    drive the feed themselves.
    """

    #: Seconds one ``step`` of the thread waits on the feed; bounds how long ``stop()`` takes.
    WAIT: ClassVar[float] = 0.5
    #: Name of the thread, as shown in stack dumps.
    THREAD_NAME: ClassVar[str] = "callpolicy-follower"

    #: Seconds between two reports of what this node serves (``Store.report_node``).
    HEARTBEAT: ClassVar[float] = 5.0

    def __init__(
        self,
        store: Store,
        runtime: PolicyRuntime,
        clock: Callable[[], float],
        log: logging.Logger,
        node: str = "",
        kind: Literal["api", "edge"] = "api",
    ) -> None:
        """Follow ``store``'s feed; reload ``runtime`` with times from ``clock``; report
        what this process serves under the name ``node`` ('' reports nothing)."""
        self.node = node
        self._kind: Literal["api", "edge"] = kind
        self._reload_error = ""
        self._reported = float("-inf")
        self._store = store
        self._runtime = runtime
        self._clock = clock
        self._log = log
        self._seq = 0
        """The feed position applied so far: the next read asks for events after it."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.state: State = "NOT_READY"
        """The life-cycle state (style note 12)."""
        self.message = "not started"
        """Why the follower is in ``state``."""

    @property
    def status(self) -> tuple[State, str]:
        """The state and a message saying why (shown on ``/health``)."""
        return self.state, self.message

    def start(self) -> None:
        """Follow in a daemon thread; a second call while running does nothing."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._on_start()
        self.report()
        self._thread = threading.Thread(target=self._run, name=self.THREAD_NAME, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop following (returns within about ``WAIT`` seconds)."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._stop.set()
            thread.join()
        self.state, self.message = "NOT_READY", "stopped"

    def step(self, timeout: float) -> int:
        """Wait up to ``timeout`` s for feed events and apply them; returns how many.

        The position advances past an event only once it is applied: if the store fails
        half-way, the next step reads that event again rather than losing it.
        """
        events = self._read(timeout)
        for event in events:
            if event.kind == "rules":
                self._on_rules(event.seq)
            else:
                self._on_account(event)
            self._seq = max(self._seq, event.seq)
        return len(events)

    @abc.abstractmethod
    def _read(self, timeout: float) -> list[ChangeEvent]:
        """The events after ``self._seq``, waiting up to ``timeout`` s for the first."""

    def _on_start(self) -> None:  # noqa: B027  # an optional hook, empty by default
        """Run by ``start()`` before the thread begins (e.g. to note where the feed is)."""

    def _on_rules(self, seq: int) -> None:
        """Another process reloaded its rules (event ``seq``): reload ours, and say so."""
        self.state, self.message = reload_for_event(self._runtime, self._clock(), seq, self._log)
        self.reloaded(self.message if self.state == "WARN" else "")

    def reloaded(self, error: str = "") -> None:
        """Report this node's rules now: after a reload here, with its error if it failed."""
        self._reload_error = error
        self.report()

    def report(self) -> None:
        """Tell the store what this node serves (never fails the caller)."""
        if not self.node:
            return
        now = self._clock()
        info = self._runtime.info
        status = NodeStatusV1(
            node=self.node,
            kind=self._kind,
            revision=info.revision,
            state=self.state,
            reload_error=self._reload_error,
            reloaded_at=info.loaded_at,
            seen_at=now,
        )
        try:
            self._store.report_node(status)
            self._reported = now
        except Exception as exc:  # noqa: BLE001  # the store may be down: report later
            self._log.warning("follower: could not report node %s: %s", self.node, exc)

    def _on_account(self, event: ChangeEvent) -> None:  # noqa: B027  # optional hook
        """An account changed; nothing to do unless this process holds accounts."""

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step(self.WAIT)
            except Exception as exc:  # noqa: BLE001  # store down: report, retry, never die
                if self.state != "ERROR":  # once per outage, not once per retry
                    self._log.warning("follower: change feed unreadable: %s", exc)
                self.state, self.message = "ERROR", f"change feed unreadable: {exc}"
                self._stop.wait(self.WAIT)
                continue
            if self.state == "ERROR":
                self.state, self.message = "OK", f"following the change feed at seq {self._seq}"
            if self._clock() - self._reported >= self.HEARTBEAT:
                self.report()
