"""Per-site call admission by bandwidth on a virtual clock (clause 2).

A site declares the access bandwidth it has for voice and video; each call in progress at
the site holds a share of it by the media its offer carries (``rules/admission.toml``,
``sdp.offer_share``). The proxy takes a :class:`Hold` when it admits the INVITE, before
forwarding it, so that set-ups racing each other cannot overshoot the site together, and
lets it go at a final answer other than 2xx, a timeout, or a BYE of the dialog (either
side's). A call whose BYE never passes the edge stops counting after ``until``.

Calls are keyed by (Call-ID, the caller's From tag): a BYE names the dialog by both (the
caller's tag is in its From when the caller hangs up, in its To when the callee does).

Memory is bounded: at most ``max_calls`` holds, the oldest dropped first (counted).
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from typing import Protocol

__all__ = ["Admission", "CallKey", "Hold", "SiteAdmission"]

#: (Call-ID, the From tag of the INVITE): one dialog (the edge does not fork).
CallKey = tuple[str, str]


class Hold:
    """One call's share of its site's bandwidth, held until the call ends."""

    __slots__ = ("bps", "key", "serial", "site", "until")

    def __init__(self, key: CallKey, site: str, bps: int, until: float, serial: int = 0) -> None:
        """A hold of ``bps`` bit/s at ``site`` for the call ``key``, at most till ``until``;
        ``serial`` names it in a C table (``sip_edge.fast``'s ``CAdmission``), which
        cannot compare objects as :meth:`SiteAdmission.release` does."""
        self.key = key
        self.site = site
        self.bps = bps
        self.until = until
        self.serial = serial


class Admission(Protocol):
    """What the core asks of its admission table: :class:`SiteAdmission`, or the C table
    a data plane shares with it (``sip_edge.fast``'s ``CAdmission``)."""

    def __len__(self) -> int: ...
    def used(self, site: str) -> int: ...
    def holds(self) -> dict[CallKey, tuple[str, int, float]]: ...
    def take(
        self,
        site: str,
        capacity: int | None,
        bps: int,
        key: CallKey,
        now: float,
        until: float,
        force: bool = False,
    ) -> Hold | None: ...
    def release(self, hold: Hold) -> bool: ...
    def ended(self, call_id: str, tags: tuple[str, ...]) -> Hold | None: ...
    def expire(self, now: float) -> None: ...


class SiteAdmission:
    """Bandwidth held per site by the calls in progress there, bounded."""

    def __init__(self, stats: Counter[str], max_calls: int = 200_000) -> None:
        """Count into ``stats``; hold at most ``max_calls`` calls."""
        self.stats = stats
        self.max_calls = max_calls
        self._holds: OrderedDict[CallKey, Hold] = OrderedDict()
        self._used: dict[str, int] = {}

    def __len__(self) -> int:
        """Calls held."""
        return len(self._holds)

    def used(self, site: str) -> int:
        """bit/s held at ``site``."""
        return self._used.get(site, 0)

    def holds(self) -> dict[CallKey, tuple[str, int, float]]:
        """Every hold: key -> (site, bit/s, until), for tests and introspection."""
        return {k: (h.site, h.bps, h.until) for k, h in self._holds.items()}

    def take(
        self,
        site: str,
        capacity: int | None,
        bps: int,
        key: CallKey,
        now: float,
        until: float,
        force: bool = False,
    ) -> Hold | None:
        """Hold ``bps`` at ``site`` for the call ``key``; None (nothing held) if that would
        exceed ``capacity`` bit/s. ``capacity`` None: not limited; ``force`` (an emergency
        call): held whatever it exceeds."""
        self.expire(now)
        old = self._holds.get(key)
        if old is not None:
            self.release(old)  # the same dialog's INVITE again: counted once
        if not force and capacity is not None and self.used(site) + bps > capacity:
            return None
        holds = self._holds
        if len(holds) >= self.max_calls:
            self.release(next(iter(holds.values())))
            self.stats["site_hold_evicted"] += 1
        hold = holds[key] = Hold(key, site, bps, until)
        self._used[site] = self.used(site) + bps
        return hold

    def release(self, hold: Hold) -> bool:
        """Stop counting ``hold``; False if it no longer counted (released before)."""
        if self._holds.get(hold.key) is not hold:
            return False
        del self._holds[hold.key]
        # .get: a hold of 0 bit/s may outlive the entry its site's last other hold removed.
        left = self._used.get(hold.site, 0) - hold.bps
        if left:
            self._used[hold.site] = left
        else:
            self._used.pop(hold.site, None)
        return True

    def ended(self, call_id: str, tags: tuple[str, ...]) -> Hold | None:
        """The dialog ``call_id`` with one of ``tags`` ended (a BYE): its hold, released."""
        for tag in tags:
            hold = self._holds.get((call_id, tag))
            if hold is not None:
                self.release(hold)
                return hold
        return None

    def expire(self, now: float) -> None:
        """Let go of the holds whose time is up (calls whose BYE never came by).

        Holds are kept in the order taken, so with one timeout they expire from the front;
        one taken after a reload shortened the timeout may expire a little late.
        """
        holds = self._holds
        while holds:
            hold = next(iter(holds.values()))
            if hold.until > now:
                return
            self.release(hold)
            self.stats["site_hold_expired"] += 1
