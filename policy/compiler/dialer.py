"""Power-dialer escalation (clause 7.2): window totals -> warn / throttle / suspend.

The SIP edge counts attempts per account in its own bounded counters (never in the rules
engine: durable-rules' windows and timers misbehave, notes/durable-rules.md). At the end
of each window it posts the totals of the accounts that went over a limit; durable-rules
turns them into an escalation with a threshold ruleset generated from
``rules/power_dialer.toml``.

The thresholds are constants in the ruleset: a condition comparing two fields of the same
event (``{"$gte": {"rejected": {"m": "warn_at"}}}``) matches every event in durable-rules
2.0.28 (measured here). Because the ruleset depends on the rule file, each batch is
evaluated in a fresh child process: a reload never re-registers a ruleset in a
long-running process (the ~1 MB-per-reload leak), and a hang is bounded by the timeout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import msgspec

from policy.errors import EngineError
from policy.rules.model import EscalationStep, PowerDialerFile

__all__ = [
    "DIALER_RULESET",
    "Escalation",
    "WindowTotal",
    "dialer_ruleset",
    "escalate",
    "escalate_in_process",
]

DIALER_RULESET = "callpolicy_dialer"
Level = Literal["none", "warn", "throttle", "suspend"]
_RANK = {"suspend": 1, "throttle": 2, "warn": 3}
_LEVELS: dict[str, Level] = {
    "none": "none",
    "warn": "warn",
    "throttle": "throttle",
    "suspend": "suspend",
}


class WindowTotal(msgspec.Struct, frozen=True, kw_only=True):
    """One account's counts in one window (the event posted to the engine)."""

    account: str
    attempts: int
    rejected: int
    """Attempts rejected for going over a limit."""


class Escalation(msgspec.Struct, frozen=True):
    """The level an account's window total reached."""

    account: str
    level: Level


def dialer_ruleset(steps: Sequence[EscalationStep]) -> dict[str, dict[str, Any]]:
    """The durable-rules threshold ruleset: highest level first (lowest ``pri`` fires)."""
    rules: dict[str, Any] = {
        step.level: {
            "pri": _RANK[step.level],
            "all": [{"m": {"$gte": {"rejected": step.rejected_at_least}}}],
            "run": f"dialer_{step.level}",
        }
        for step in steps
    }
    # Conditions never name `id` (it hangs the engine): match on a field every event has.
    rules["none"] = {"pri": 9, "all": [{"m": {"$ex": {"attempts": 1}}}], "run": "dialer_none"}
    return {DIALER_RULESET: rules}


def escalate_in_process(rules: PowerDialerFile, totals: Sequence[WindowTotal]) -> list[Escalation]:
    """Evaluate in THIS process: for the child only (each call registers a new ruleset)."""
    from durable import engine as durable_engine

    results: dict[int, Level] = {}

    class _Host(durable_engine.Host):  # type: ignore[misc]
        def _run(self) -> None:
            return None

        def get_action(self, action_name: str) -> Any:
            level = _LEVELS[action_name.removeprefix("dialer_")]

            def run(c: Any) -> None:
                results[c.m.id] = level

            return run

    host = _Host()
    host.set_rulesets(dialer_ruleset(rules.escalation))
    out = []
    for i, total in enumerate(totals, start=1):
        event = msgspec.structs.asdict(total)
        event.update(id=i, sid=1)
        host.post(DIALER_RULESET, event)
        level = results.pop(i, None)
        if level is None:
            raise EngineError(f"no escalation rule answered {total!r}")
        out.append(Escalation(total.account, level))
    return out


class DialerBatch(msgspec.Struct, frozen=True):
    """What the child gets: the rule file and the totals."""

    rules: PowerDialerFile
    totals: tuple[WindowTotal, ...]


def escalate(
    rules: PowerDialerFile, totals: Sequence[WindowTotal], timeout: float = 30.0
) -> list[Escalation]:
    """Escalations for window totals, evaluated by durable-rules in a child process."""
    from policy.compiler.engine import run_child

    if not totals:
        return []
    payload = msgspec.msgpack.encode(DialerBatch(rules, tuple(totals)))
    answer = run_child("dialer", payload, timeout)
    return msgspec.msgpack.decode(answer, type=list[Escalation])
