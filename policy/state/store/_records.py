"""What both backends share: record codecs, the charge id and the version bump.

Kept in one place so SQLite and Redis cannot drift apart on the semantics the contract
tests pin (version numbering, charge ids, validation of what ``change`` returns).
"""

from __future__ import annotations

import hashlib

import msgspec

from policy.state.accounts import (
    Account,
    Applied,
    AuditEntry,
    ChangeEvent,
    Charge,
    ChargeRequest,
    Effect,
    KeyInfo,
    NodeStatusV1,
    Principal,
    UnblockOutcome,
)

from .base import Change, EffectChange, IdempotencyConflict

__all__ = [
    "MAX_RETRIES",
    "apply_change",
    "as_effect",
    "charge_id",
    "check_fee",
    "decode_account",
    "decode_audit",
    "decode_charge",
    "decode_event",
    "decode_node",
    "decode_outcome",
    "decode_principal",
    "encode",
    "key_info",
    "make_charge",
    "new_outcome",
    "replayed",
    "unblock_outcome",
    "validate_new",
]

#: Optimistic-concurrency attempts before giving up (each failed attempt means another
#: writer succeeded, so this only trips under pathological contention on one account).
MAX_RETRIES = 1000

encode = msgspec.json.Encoder().encode
"""Encode any record Struct to JSON bytes."""

# Store records are not forbid_unknown_fields (accounts.py): a doc written by a newer
# version with extra fields still decodes here; the extra fields are dropped on rewrite.
_account = msgspec.json.Decoder(Account)
_charge = msgspec.json.Decoder(Charge)
_outcome = msgspec.json.Decoder(Applied)
_audit = msgspec.json.Decoder(AuditEntry)
_node = msgspec.json.Decoder(NodeStatusV1)
_principal = msgspec.json.Decoder(Principal)
_event = msgspec.json.Decoder(ChangeEvent)

decode_account = _account.decode
"""Decode an Account doc (validates the id pattern and field types)."""
decode_charge = _charge.decode
"""Decode a Charge doc."""
decode_outcome = _outcome.decode
"""Decode a stored outcome of a charged change (an UnblockOutcome doc decodes too)."""
decode_audit = _audit.decode
"""Decode an AuditEntry doc."""
decode_node = _node.decode
"""Decode a NodeStatusV1 doc."""
decode_principal = _principal.decode
"""Decode a Principal doc."""
decode_event = _event.decode
"""Decode a ChangeEvent doc."""


def charge_id(account_id: str, idempotency_key: str) -> str:
    """Deterministic charge id of (account, key): a replay names the same charge."""
    digest = hashlib.sha256(f"{account_id}\x00{idempotency_key}".encode()).hexdigest()
    return "ch_" + digest[:32]


def validate_new(account: Account) -> Account:
    """Round-trip through the decoder so constraints (id pattern) hold for stored docs.

    Constructing a Struct does not check ``Meta`` constraints; decoding does. An account
    id outside ``[a-z0-9_-]`` would also break the Redis hash tag ``{<account>}``.
    """
    return decode_account(encode(account))


def apply_change(current: Account, change: EffectChange) -> tuple[Effect, Account]:
    """Call ``change`` and set the next version; the id must not change."""
    effect = change(current)
    new = effect.account
    if new.id != current.id:
        raise ValueError(f"change must not alter the account id ({current.id!r} -> {new.id!r})")
    return effect, validate_new(msgspec.structs.replace(new, version=current.version + 1))


def as_effect(change: Change) -> EffectChange:
    """An account change as an effect change without audit lines."""
    return lambda account: Effect(account=change(account))


def make_charge(account_id: str, charge: ChargeRequest, now: float) -> Charge | None:
    """The ledger entry of a charged change, or None for a free one (fee 0)."""
    check_fee(charge.fee_cents)
    if charge.fee_cents == 0:
        return None
    return Charge(
        id=charge_id(account_id, charge.idempotency_key),
        account=account_id,
        target=charge.target,
        fee_cents=charge.fee_cents,
        rule=charge.rule,
        idempotency_key=charge.idempotency_key,
        created_at=now,
        kind=charge.kind,
        description=charge.description,
    )


def check_fee(fee_cents: int) -> None:
    """A fee is never negative (checked before anything is read or written)."""
    if fee_cents < 0:
        raise ValueError(f"fee_cents must be >= 0, got {fee_cents}")


def replayed(
    stored_hash: str, stored_outcome: bytes, request_hash: str, account_id: str, key: str
) -> Applied:
    """The first outcome of an idempotency key used again: the same request replays it,
    a different one is a conflict (nothing charged twice, nothing silently ignored)."""
    if stored_hash != request_hash:
        raise IdempotencyConflict(
            f"idempotency key {key!r} of account {account_id!r} was used with a different request"
        )
    return msgspec.structs.replace(decode_outcome(stored_outcome), replayed=True)


def new_outcome(
    current: Account, change: EffectChange, charge: ChargeRequest | None, now: float
) -> tuple[Applied, str]:
    """The changed account, its charge and audit lines: what a mutation writes in one
    transaction, and the detail of its change-feed event."""
    effect, new = apply_change(current, change)
    record = make_charge(new.id, charge, now) if charge is not None else None
    return Applied(account=new, charge=record, audit=effect.audit), effect.event


def unblock_outcome(applied: Applied) -> UnblockOutcome:
    """The API's view of an unblock."""
    return UnblockOutcome(account=applied.account, charge=applied.charge, replayed=applied.replayed)


def key_info(
    principal: bytes, created_at: float, revoked_at: float | None, last_used_at: float | None
) -> KeyInfo:
    """The operator's view of a stored key (its hash never leaves the store)."""
    p = decode_principal(principal)
    return KeyInfo(
        key_id=p.key_id,
        role=p.role,
        account=p.account,
        created_at=float(created_at),
        revoked_at=None if revoked_at is None else float(revoked_at),
        last_used_at=None if last_used_at is None else float(last_used_at),
    )
