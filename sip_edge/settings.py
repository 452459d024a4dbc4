"""The core's settings and what it derives from the rules (split out of ``proxy.py``).

``CoreSettings`` is built by the shell from ``config.EdgeConfig``; ``RulesView`` is what
the core derives from one policy snapshot and rebuilds when a reload swaps it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from policy import Call, Decision, RuleRef, Snapshot
from policy.accounts import Account
from policy.dialer import WindowTotal
from policy.model import Carrier, PowerDialerFile
from sip_edge.message import is_digits

from .sdp import AllowedCodecs
from .transaction import TimerConfig

__all__ = ["Addr", "CoreSettings", "Escalate", "Peer", "PolicyLike", "RulesView", "reason_header"]

Addr = tuple[str, int]


class PolicyLike(Protocol):
    """What the core needs of ``policy.runtime.PolicyRuntime``."""

    @property
    def snapshot(self) -> Snapshot:
        """The running snapshot."""
        ...

    def decide(self, account: Account, call: Call) -> Decision:
        """Decide one call of ``account``."""
        ...


@dataclass(frozen=True)
class Escalate:
    """Effect: evaluate these window totals (``policy.dialer.escalate``), off the hot path."""

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
    timers: TimerConfig = field(default_factory=TimerConfig)
    secret: bytes = b"callpolicy-edge"
    """Key of the loop-detection hash: the same on every worker of one edge."""
    instance: str = "0"
    """Distinguishes the branches and tags of workers."""


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
        self.dialer_rule = _file_rule(snapshot, "power_dialer", "max_attempts_per_second")
        self.codec_rule = _file_rule(snapshot, "codecs", "audio")


def _file_rule(snapshot: Snapshot, name: str, key: str) -> RuleRef:
    """A RuleRef to ``key`` of rule file ``name`` (the rules keep no ref for these)."""
    for src in snapshot.rules.sources:
        if src.file.endswith(f"{name}.toml"):
            for n, line in enumerate(src.text.splitlines(), start=1):
                if line.split("=", 1)[0].strip() == key:
                    return RuleRef(name.replace("_", "-"), src.file, n)
            return RuleRef(name.replace("_", "-"), src.file, 0)
    return RuleRef(name.replace("_", "-"), f"{name}.toml", 0)


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
