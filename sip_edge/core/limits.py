"""Per-account power-dialer counters on a virtual clock (clause 7.2).

Counted here, in plain code, never in the rules engine (``notes/durable-rules.md``: its
windows and timers misbehave). Two limits per account from ``rules/power_dialer.toml``:
new attempts in any 1-second span (a sliding log of at most ``rate`` timestamps) and
set-ups in progress (INVITEs forwarded without a final response yet). ``throttle`` halves
both; ``suspend`` is handled by the proxy (every non-emergency call is refused).

Window totals (attempts, rejected) are kept per fixed window of ``window_seconds``; at
the end of a window the totals of the accounts that went over a limit are handed out
for escalation, and every total starts again at zero. Emergency calls never reach here.

Memory is bounded: at most ``rate`` timestamps per account and ``max_accounts`` accounts
(accounts come from configured trunks, so the bound is a guard, not a working limit).
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Literal, Protocol

from policy import WindowTotal

__all__ = ["DialerLimits", "Limits", "Refusal"]

Refusal = Literal["rate", "concurrent"]
Flag = Literal["none", "warn", "throttle", "suspend"]


class DialerLimits(Protocol):
    """What the core uses of the counters: :class:`Limits`, or the same counting in C
    tables that a data plane shares (``sip_edge.fast._plane.CLimits``)."""

    @property
    def rate(self) -> int: ...
    @property
    def concurrent(self) -> int: ...
    @property
    def window_seconds(self) -> float: ...
    @property
    def max_accounts(self) -> int: ...
    @property
    def window_end(self) -> float | None: ...
    def configure(self, rate: int, concurrent: int, window_seconds: float) -> None: ...
    def admit(self, account: str, flag: Flag, now: float) -> Refusal | None: ...
    def reject(self, account: str, now: float) -> None: ...
    def started(self, account: str) -> None: ...
    def ended(self, account: str) -> None: ...
    def in_progress(self, account: str) -> int: ...
    def close_window(self, now: float) -> list[WindowTotal]: ...


class _Account:
    __slots__ = ("attempts", "concurrent", "rejected", "stamps")

    def __init__(self) -> None:
        self.stamps: deque[float] = deque()
        self.concurrent = 0
        self.attempts = 0
        self.rejected = 0


class Limits:
    """Bounded per-account counters for attempts per second and set-ups in progress."""

    def __init__(
        self,
        rate: int,
        concurrent: int,
        window_seconds: float,
        max_accounts: int = 100_000,
    ) -> None:
        """Limits per account: ``rate`` attempts/s, ``concurrent`` set-ups in progress."""
        self.rate = rate
        self.concurrent = concurrent
        self.window_seconds = window_seconds
        self.max_accounts = max_accounts
        self._accounts: OrderedDict[str, _Account] = OrderedDict()
        self._window_end: float | None = None

    def configure(self, rate: int, concurrent: int, window_seconds: float) -> None:
        """New limits (a rules reload); counts so far are kept."""
        self.rate, self.concurrent, self.window_seconds = rate, concurrent, window_seconds

    def _get(self, account: str) -> _Account:
        acc = self._accounts.get(account)
        if acc is None:
            if len(self._accounts) >= self.max_accounts:
                self._accounts.popitem(last=False)
            acc = self._accounts[account] = _Account()
        else:
            self._accounts.move_to_end(account)
        return acc

    def admit(self, account: str, flag: Flag, now: float) -> Refusal | None:
        """Count one attempt of ``account``; None if it may proceed, else which limit."""
        if self._window_end is None:
            self._window_end = now + self.window_seconds
        acc = self._get(account)
        acc.attempts += 1
        rate, concurrent = self.rate, self.concurrent
        if flag == "throttle":
            rate, concurrent = max(1, rate // 2), max(1, concurrent // 2)
        stamps = acc.stamps
        while stamps and now - stamps[0] >= 1.0:
            stamps.popleft()
        refusal: Refusal | None = None
        if len(stamps) >= rate:
            refusal = "rate"
        elif acc.concurrent >= concurrent:
            refusal = "concurrent"
        if refusal is not None:
            acc.rejected += 1
            return refusal
        stamps.append(now)
        while len(stamps) > rate:  # limits lowered by a reload or throttle
            stamps.popleft()
        return None

    def reject(self, account: str, now: float) -> None:
        """Count an attempt refused for the account's dialer flag (suspend)."""
        if self._window_end is None:
            self._window_end = now + self.window_seconds
        acc = self._get(account)
        acc.attempts += 1
        acc.rejected += 1

    def started(self, account: str) -> None:
        """A set-up of ``account`` was forwarded (counts until its final response)."""
        self._get(account).concurrent += 1

    def ended(self, account: str) -> None:
        """A set-up of ``account`` got its final response (or timed out)."""
        acc = self._accounts.get(account)
        if acc is not None and acc.concurrent > 0:
            acc.concurrent -= 1

    def in_progress(self, account: str) -> int:
        """Set-ups of ``account`` in progress."""
        acc = self._accounts.get(account)
        return acc.concurrent if acc else 0

    @property
    def window_end(self) -> float | None:
        """When the current window closes (None while nothing was counted)."""
        return self._window_end

    def close_window(self, now: float) -> list[WindowTotal]:
        """If the window is over: totals of accounts that went over a limit, and reset."""
        if self._window_end is None or now < self._window_end:
            return []
        over = [
            WindowTotal(account=name, attempts=acc.attempts, rejected=acc.rejected)
            for name, acc in self._accounts.items()
            if acc.rejected
        ]
        idle = []
        for name, acc in self._accounts.items():
            acc.attempts = acc.rejected = 0
            while acc.stamps and now - acc.stamps[0] >= 1.0:
                acc.stamps.popleft()
            if acc.concurrent == 0 and not acc.stamps:
                idle.append(name)
        for name in idle:
            del self._accounts[name]
        self._window_end = None  # the next attempt opens the next window
        return over
