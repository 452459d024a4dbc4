"""The store methods both backends derive from ``apply`` (one transaction each)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from policy.state.accounts import Account, BlockTarget, ChargeRequest, UnblockOutcome

from . import _records as rec
from .base import Change

if TYPE_CHECKING:
    from policy.state.accounts import Applied

    from .base import EffectChange

__all__ = ["Derived"]


class Derived:
    """``update_account`` and ``unblock`` written once, on the backend's ``apply``."""

    def apply(
        self,
        account_id: str,
        change: EffectChange,
        now: float,
        charge: ChargeRequest | None = None,
    ) -> Applied:
        raise NotImplementedError  # pragma: no cover  (each backend has its own)

    def update_account(self, account_id: str, change: Change, now: float) -> Account:
        """Apply ``change`` in one transaction (retrying on a concurrent write); emit an event."""
        return self.apply(account_id, rec.as_effect(change), now).account

    def unblock(
        self,
        account_id: str,
        target: BlockTarget,
        fee_cents: int,
        rule: str,
        idempotency_key: str,
        request_hash: str,
        change: Change,
        now: float,
    ) -> UnblockOutcome:
        """Apply ``change``, append the Charge and record the key in one transaction."""
        charge = ChargeRequest(
            fee_cents=fee_cents,
            rule=rule,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            target=target,
        )
        return rec.unblock_outcome(self.apply(account_id, rec.as_effect(change), now, charge))
