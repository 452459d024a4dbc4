"""The core's settings and what it derives from the rules (split out of ``proxy.py``).

``CoreSettings`` is built by the shell from ``config.EdgeConfig``; ``RulesView`` is what
the core derives from one policy snapshot and rebuilds when a reload swaps it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from policy import (
    Account,
    Call,
    Carrier,
    CompiledAccount,
    Decision,
    PowerDialerFile,
    RuleRef,
    Snapshot,
    WindowTotal,
)
from sip_edge.wire.message import is_digits

from .sdp import AllowedCodecs, MediaShares, Offers
from .transaction import TimerConfig

__all__ = [
    "Addr",
    "AnsweredElsewhere",
    "CoreSettings",
    "Escalate",
    "Peer",
    "PolicyLike",
    "RulesView",
    "reason_header",
]

Addr = tuple[str, int]


class PolicyLike(Protocol):
    """What the core needs of ``policy.PolicyRuntime``."""

    @property
    def snapshot(self) -> Snapshot:
        """The running snapshot."""
        ...

    def decide(self, account: Account, call: Call) -> Decision:
        """Decide one call of ``account``."""
        ...

    def compiled(self, account: Account, snapshot: Snapshot | None = None) -> CompiledAccount:
        """``account`` compiled against ``snapshot`` (a data plane builds its C tables
        from it, ``sip_edge/fast/bridge.py``)."""
        ...


class AnsweredElsewhere(Protocol):
    """Refusals answered by a data plane in front of the core (sip_edge/fast/), and the
    answers to INVITEs the core forwarded that it relays."""

    def get(self, key: tuple[str, str]) -> tuple[float, bytes, tuple[str, int]] | None:
        """(until, the answer, where it went) of the (branch, Call-ID), None if none."""
        ...

    def remember(
        self, key: tuple[str, str], answer: bytes, addr: tuple[str, int], now: float
    ) -> bool:
        """Keep the core's refusal of (branch, Call-ID) for 64*T1 from ``now``; False if
        it cannot (the core keeps it then)."""
        ...

    def forget(self, key: tuple[str, str]) -> None:
        """Drop it (past Timer H)."""
        ...

    def hold(self, key: tuple[str, str]) -> None:
        """The core began a server transaction for this (branch, Call-ID)."""
        ...

    def release(self, key: tuple[str, str]) -> None:
        """That server transaction ended."""
        ...

    def own(
        self,
        call_id: str,
        branch: str,
        vias: bytes,
        from_value: bytes,
        trunk: tuple[str, int],
        account: str,
    ) -> bool:
        """The core forwarded an INVITE: the plane relays its plain answers to ``trunk``
        (with the customer's ``vias`` lines and ``from_value``) and ends the set-up in
        ``account``'s power-dialer counts on a 2xx; False if it does not."""
        ...

    def sync(
        self, call_id: str, branch: str, keep: bool
    ) -> tuple[list[tuple[int, float, bytes]], bool, bool]:
        """The answers relayed since the last sync, ``(status, time, bytes sent)`` each;
        whether the plane still relays them (``keep``, unless it handed the call back);
        whether it ended the set-up in the power-dialer counts."""
        ...


@dataclass(frozen=True)
class Escalate:
    """Effect: evaluate these window totals (``policy.escalate``), off the hot path."""

    rules: PowerDialerFile
    totals: tuple[WindowTotal, ...]


@dataclass(frozen=True)
class Peer:
    """Who sent a datagram: a customer trunk (with its account), a carrier, or the PSAP."""

    kind: Literal["trunk", "carrier", "psap"]
    name: str
    """Account id of a trunk, carrier id, or ``psap``."""


@dataclass(frozen=True)
class CoreSettings:
    """The core's configuration (built from ``config.EdgeConfig`` by the shell)."""

    via: Addr
    """Our address as written in Via (responses come back here)."""
    record_route: Addr
    """Our address as written in Record-Route (in-dialog requests come here)."""
    psap: Addr
    trunks: Mapping[tuple[str, int | None], str]
    """(ip, port or None for any port) -> account id."""
    max_message_bytes: int = 16_384
    max_in_flight: int = 5_000
    max_transactions: int = 50_000
    emergency_reserve: int = 100
    """Slots of the transaction table only 110/112 may take: other calls are shed with 503
    while fewer would stay free (clause 9.3; config keeps max_in_flight + this within
    max_transactions)."""
    max_calls: int = 200_000
    """Calls counted for per-site admission (set-ups and answered calls, clause 2); past
    it the oldest stops counting (``site_hold_evicted``)."""
    timers: TimerConfig = field(default_factory=TimerConfig)
    timer_tick: float = 1 / 16
    """Timers fire on this grid (s), late by less than one tick: RFC 3261 timers are
    lower bounds, and one wake-up then serves every timer due in the tick instead of one
    wake-up per transaction (Kamailio's timer ticks at 16 Hz too)."""
    secret: bytes = b"callpolicy-edge"
    """Key of the loop-detection hash: the same on every worker of one edge."""
    instance: str = "0"
    """Distinguishes the branches and tags of workers."""
    mode: Literal["proxy", "redirect"] = "proxy"
    """``redirect``: answer allowed calls with 302 instead of forwarding them
    (``redirect.RedirectCore``; ``redirect.new_core`` builds the core of a mode)."""


class RulesView:
    """What the core derives from one snapshot (rebuilt when the snapshot is swapped)."""

    def __init__(self, snapshot: Snapshot) -> None:
        rules = snapshot.rules
        self.snapshot = snapshot
        self.carriers: dict[str, tuple[Carrier, Addr | None]] = {}
        for cid, carrier in snapshot.carriers.items():
            self.carriers[cid] = (carrier, _ip_addr(carrier.address))
        self.codecs = AllowedCodecs(rules.codecs.audio, rules.codecs.video, rules.codecs.image)
        self.location_header = rules.emergency.location_header
        self.dialer = rules.power_dialer
        self.dialer_rule = rules.power_dialer_rule
        self.codec_rule = rules.codecs_rule
        # Clause 2: each call's share of its site's bandwidth, in bit/s (14.4 kbit/s fax).
        admission = rules.admission
        by_media: dict[str, dict[str, int]] = {}
        late = 0
        for share in admission.share:
            bps = round(share.kbps * 1000)
            by_media.setdefault(share.media, {}).update(dict.fromkeys(share.formats, bps))
            if share.kind == admission.late_offer:
                late = bps
        self.shares = MediaShares(by_media, late)
        self.offers = Offers(self.codecs, self.shares)
        self.call_timeout = float(admission.call_timeout_seconds)
        self.admission_rule = rules.admission_rule


def _ip_addr(text: str) -> Addr | None:
    host, _, port = text.rpartition(":")
    host = host.strip("[]")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return None
    return (host, int(port)) if is_digits(port) else None


def reason_header(cause: int, reason: str, rule: RuleRef | None) -> str:
    where = f" ({rule.id} {rule.file}:{rule.line})" if rule is not None else ""
    return f'Q.850;cause={cause};text="{reason}{where}"'.replace("\r", "").replace("\n", "")
