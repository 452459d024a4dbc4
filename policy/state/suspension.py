"""Operator restrictions of an account: suspension (clause 1) and the power-dialer flag.

Clause 1: the operator may restrict access where the security of the network or its
integrity requires it. A suspension stops the account's outgoing calls in the rules
engine (``policy.compiler.engine``: right after emergency), so 110/112 are never affected
(clause 9.3). The power-dialer flag (clause 7.2) is raised by the edge and cleared here.
Pure functions: time and the acting operator are passed in; the store writes the Effect.
"""

from __future__ import annotations

import msgspec

from policy.errors import CustomerError
from policy.state.accounts import Account, Effect, Suspension, SuspensionGround
from policy.state.lifecycle import audit_line

__all__ = ["clear_dialer_flag", "resume", "suspend"]

_replace = msgspec.structs.replace


def suspend(
    account: Account, ground: SuspensionGround, note: str, now: float, actor: str
) -> Effect:
    """Stop the account's outgoing calls (clause 1); 110/112 are never affected (9.3)."""
    if account.suspension is not None:
        raise CustomerError(
            "already_suspended",
            f"account {account.id!r} is suspended already ({account.suspension.ground})",
        )
    s = Suspension(ground=ground, note=note, since=now, by=actor)
    line = audit_line(account, actor, now, "account.suspend", None, "", ground, note)
    return Effect(account=_replace(account, suspension=s), audit=(line,), event="account.suspend")


def resume(account: Account, now: float, actor: str) -> Effect:
    """Lift an operator suspension."""
    if account.suspension is None:
        raise CustomerError("not_suspended", f"account {account.id!r} is not suspended")
    line = audit_line(account, actor, now, "account.resume", None, account.suspension.ground, "")
    return Effect(account=_replace(account, suspension=None), audit=(line,), event="account.resume")


def clear_dialer_flag(account: Account, now: float, actor: str) -> Effect:
    """Clear the power-dialer escalation the edge raised (clause 7.2; operators only)."""
    line = audit_line(account, actor, now, "dialer.clear", None, account.dialer_flag, "none")
    return Effect(
        account=_replace(account, dialer_flag="none"), audit=(line,), event="dialer.clear"
    )
