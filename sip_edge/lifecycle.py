"""A running worker's operations: SIGHUP reloads, SIGTERM drains, counters in the log.

* **SIGHUP** (the conventional "reload now"): the rules are compiled again beside the
  running ones and swapped in only when they compile (``PolicyRuntime.reload``); the
  trunks' accounts are read again from the store. Both off the loop, on a thread of
  their own at a lower priority (so is the rules-engine child it starts: calls keep the
  CPU), both logged: a failed reload logs its located errors and the running rules
  stay. Signals arriving during a reload run one more reload after it (an edit saved
  meanwhile is not lost). The outcome is counted for ``/metrics`` and ``/health``.
* **SIGTERM** (and a first SIGINT): the worker drains. New calls get 503 with
  Retry-After (the PBX tries another edge; 110/112 are still forwarded, clause 9.3, as
  under overload), calls in set-up get their final responses,
  in-dialog requests (ACK, BYE) still pass; the worker exits once no call is in set-up
  or after ``shutdown.drain_timeout`` seconds. A second SIGINT stops it at once.
* **Counters**: every ``logging.stats_interval`` seconds (the loop's clock) one event
  with the core's counters, what changed since the last one and the calls in set-up.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from policy import EngineError, PolicyRuntime, RuleErrors, StoreError

from .admin import Reloads
from .transport import EdgeProtocol

__all__ = ["CounterLog", "Reloader", "Signals", "drain", "lower_priority", "pass_on"]

log = logging.getLogger("callpolicy.sip_edge")

#: Seconds between two looks at the calls in set-up while draining.
DRAIN_POLL = 0.05
#: Niceness added to the thread that reloads, and so to the rules-engine child process it
#: starts (a fork takes its thread's niceness): ~0.3 s of CPU per worker and reload that
#: should come from idle time, not from the calls (benchmarks/RESULTS.md, "Reload under
#: load"). The thread's own share is a few ms of Python (reading and checking the files).
RELOAD_NICE = 10


def lower_priority(by: int = RELOAD_NICE) -> None:
    """Make the calling thread (Linux: niceness is per thread) ``by`` nicer; elsewhere,
    or when refused, nothing."""
    if not sys.platform.startswith("linux"):
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + by))
    except OSError:
        log.warning("sip_edge: reload thread keeps its priority (setpriority refused)")


class CounterLog:
    """Logs a worker's counters every ``interval`` seconds of the loop's clock (0: never)."""

    def __init__(self, proto: EdgeProtocol, worker: int, interval: float) -> None:
        """Report on ``proto``'s core; ``start()`` begins."""
        self.proto = proto
        self.worker = worker
        self.interval = interval
        self._last: Counter[str] = Counter()
        self._handle: asyncio.TimerHandle | None = None

    def start(self) -> None:
        """Schedule the first report (nothing if the interval is 0)."""
        if self.interval > 0:
            self._handle = self.proto.loop.call_later(self.interval, self._tick)

    def _tick(self) -> None:
        self.report("counters")
        self._handle = self.proto.loop.call_later(self.interval, self._tick)

    def report(self, what: str) -> None:
        """One event: ``sip_edge worker N <what>`` with counters, delta and in_flight."""
        now = Counter(self.proto.core.stats)
        delta = {k: v - self._last[k] for k, v in now.items() if v != self._last[k]}
        self._last = now
        log.info(
            "sip_edge worker %d %s",
            self.worker,
            what,
            extra={
                "event": "counters",
                "worker": self.worker,
                "in_flight": self.proto.in_flight(),
                "counters": dict(sorted(now.items())),
                "delta": delta,
            },
        )

    def stop(self) -> None:
        """No more periodic reports."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None


class Reloader:
    """SIGHUP: reload the rules and re-read the accounts, off the loop, one at a time."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        runtime: PolicyRuntime,
        reread_accounts: Callable[[], int],
        clock: Callable[[], float],
        worker: int,
        on_reload: Callable[[str], None] | None = None,
    ) -> None:
        """``reread_accounts()`` re-reads and applies the trunks' accounts (blocking);
        ``on_reload(error)`` hears of each reload ('' when it succeeded)."""
        self.on_reload = on_reload
        self.loop = loop
        self.runtime = runtime
        self.reread_accounts = reread_accounts
        self.clock = clock
        self.worker = worker
        self.reloads = 0
        """Reloads done (successful or not), for tests and the log."""
        self.outcome = Reloads()
        """Reloads that succeeded and failed, the last one's errors and duration (for
        ``/metrics`` and ``/health``); replaced whole, so the loop reads it whole."""
        self._task: asyncio.Task[None] | None = None
        self._again = False
        self._thread = ThreadPoolExecutor(1, "sip-edge-reload", initializer=lower_priority)
        """Where reloads run: one thread of its own, nicer than the loop's."""

    def request(self) -> None:
        """Reload now, or once more after the reload running now."""
        if self._task is not None and not self._task.done():
            self._again = True
            return
        self._task = self.loop.create_task(self._run())

    async def _run(self) -> None:
        self._again = True
        while self._again:
            self._again = False
            await self.loop.run_in_executor(self._thread, self.reload)

    def close(self) -> None:
        """Let the reload thread end (after a reload running now)."""
        self._thread.shutdown(wait=False)

    def _tell(self, error: str) -> None:
        if self.on_reload is not None:
            self.on_reload(error)

    def reload(self) -> None:
        """Reload the rules, then re-read the accounts; log each outcome (blocking)."""
        self.reloads += 1
        start = time.perf_counter()
        error = self._reload_rules()
        self._tell(error)
        try:
            n = self.reread_accounts()
        except StoreError as exc:
            log.error("sip_edge worker %d: accounts not re-read (SIGHUP): %s", self.worker, exc)
        else:
            log.info("sip_edge worker %d: %d accounts re-read (SIGHUP)", self.worker, n)
        last, failed = self.outcome, bool(error)
        self.outcome = Reloads(
            last.ok + (not failed), last.failed + failed, error, time.perf_counter() - start
        )

    def _reload_rules(self) -> str:
        """Compile and swap the rules: '' on success, else the errors (``file:line``)."""
        old = self.runtime.info
        start = time.perf_counter()
        try:
            info = self.runtime.reload(self.clock())
        except RuleErrors as exc:
            located = exc.under(old.directory)
            return self._refused(str(located), [str(e) for e in located], start)
        except EngineError as exc:
            return self._refused(str(exc), [str(exc)], start)
        log.info(
            "sip_edge worker %d: rules reloaded (SIGHUP): revision %s, version %d",
            self.worker,
            info.revision[:12],
            info.version,
            extra={"event": "reload", "ok": True, "revision": info.revision,
                   "seconds": time.perf_counter() - start},
        )  # fmt: skip
        return ""

    def _refused(self, text: str, errors: list[str], start: float) -> str:
        """Log a refused reload (the running revision stays); returns ``text``."""
        kept = self.runtime.info.revision
        log.error(
            "sip_edge worker %d: reload (SIGHUP) failed, revision %s kept: %s",
            self.worker,
            kept[:12],
            text,
            extra={"event": "reload", "ok": False, "errors": errors, "revision": kept,
                   "seconds": time.perf_counter() - start},
        )  # fmt: skip
        return text


async def drain(proto: EdgeProtocol, timeout: float, stop_now: asyncio.Event) -> int:
    """Shed new calls and wait for the calls in set-up, up to ``timeout`` seconds.

    Returns the calls still in set-up when it gave up (0: drained). ``stop_now`` ends
    the wait early (a second SIGINT).
    """
    proto.drain()
    loop = proto.loop
    deadline = loop.time() + timeout
    while proto.in_flight() and loop.time() < deadline and not stop_now.is_set():
        await asyncio.sleep(DRAIN_POLL)
    return proto.in_flight()


def pass_on(children: Sequence[subprocess.Popen[bytes]], sig: signal.Signals) -> None:
    """Send ``sig`` to the worker processes still running."""
    for child in children:
        if child.poll() is None:
            child.send_signal(sig)


class Signals:
    """A worker's handlers of SIGHUP, SIGTERM and SIGINT (``stopping``: drain now)."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        worker: int,
        reloader: Reloader,
        children: Sequence[subprocess.Popen[bytes]] = (),
        on_stopping: Callable[[], None] | None = None,
    ) -> None:
        """SIGHUP and SIGTERM are passed on to ``children``; ``on_stopping`` runs once."""
        self.loop = loop
        self.worker = worker
        self.reloader = reloader
        self.children = children
        self.on_stopping = on_stopping
        self.stopping = asyncio.Event()
        """Set by the first SIGTERM or SIGINT: drain."""
        self.stop_now = asyncio.Event()
        """Set by a second SIGINT (Ctrl-C twice): stop without waiting for calls."""

    def install(self) -> None:
        """Replace the default actions (SIGHUP's would end the process)."""
        self.loop.add_signal_handler(signal.SIGHUP, self.hup)
        for sig in (signal.SIGTERM, signal.SIGINT):
            self.loop.add_signal_handler(sig, self.stop, sig)

    def hup(self) -> None:
        """SIGHUP: reload the rules and re-read the accounts."""
        log.info("sip_edge worker %d: SIGHUP: reloading rules and accounts", self.worker)
        pass_on(self.children, signal.SIGHUP)
        self.reloader.request()

    def stop(self, sig: signal.Signals) -> None:
        """SIGTERM or SIGINT: drain; a second SIGINT stops at once, a second SIGTERM waits."""
        if self.stopping.is_set():
            if sig == signal.SIGINT:
                self.stop_now.set()
            return
        log.info("sip_edge worker %d: %s: draining", self.worker, sig.name)
        if sig == signal.SIGTERM:  # a terminal's Ctrl-C reaches every worker by itself
            pass_on(self.children, sig)
        if self.on_stopping is not None:
            self.on_stopping()
        self.stopping.set()
