"""What a change-feed follower does on a ``rules`` event, shared by the API and the edge.

Each process that runs the policy follows the store's change feed; a ``rules`` event means
another process reloaded. Reloading here compiles beside the running snapshot and swaps
only on success (PolicyRuntime.reload), so a broken rule file leaves the rules running and
the follower reports WARN with the located errors. Life-cycle states as OPA's plugins.
"""

from __future__ import annotations

import logging
from typing import Literal

from .errors import EngineError, RuleErrors
from .runtime import PolicyRuntime

__all__ = ["State", "reload_for_event"]

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
