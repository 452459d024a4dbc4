"""What both backends share: record codecs, the charge id and the version bump.

Kept in one place so SQLite and Redis cannot drift apart on the semantics the contract
tests pin (version numbering, charge ids, validation of what ``change`` returns).
"""

from __future__ import annotations

import hashlib

import msgspec

from policy.accounts import Account, BlockTarget, ChangeEvent, Charge, Principal, UnblockOutcome

from .base import Change, IdempotencyConflict

__all__ = [
    "MAX_RETRIES",
    "apply_change",
    "charge_id",
    "check_fee",
    "decode_account",
    "decode_charge",
    "decode_event",
    "decode_outcome",
    "decode_principal",
    "encode",
    "make_charge",
    "new_outcome",
    "replayed",
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
_outcome = msgspec.json.Decoder(UnblockOutcome)
_principal = msgspec.json.Decoder(Principal)
_event = msgspec.json.Decoder(ChangeEvent)

decode_account = _account.decode
"""Decode an Account doc (validates the id pattern and field types)."""
decode_charge = _charge.decode
"""Decode a Charge doc."""
decode_outcome = _outcome.decode
"""Decode a stored UnblockOutcome doc."""
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


def apply_change(current: Account, change: Change) -> Account:
    """Call ``change`` and set the next version; the id must not change."""
    new = change(current)
    if new.id != current.id:
        raise ValueError(f"change must not alter the account id ({current.id!r} -> {new.id!r})")
    return validate_new(msgspec.structs.replace(new, version=current.version + 1))


def make_charge(
    account_id: str,
    target: BlockTarget,
    fee_cents: int,
    rule: str,
    idempotency_key: str,
    now: float,
) -> Charge | None:
    """The ledger entry of an unblock, or None for a free one (fee 0)."""
    check_fee(fee_cents)
    if fee_cents == 0:
        return None
    return Charge(
        id=charge_id(account_id, idempotency_key),
        account=account_id,
        target=target,
        fee_cents=fee_cents,
        rule=rule,
        idempotency_key=idempotency_key,
        created_at=now,
    )


def check_fee(fee_cents: int) -> None:
    """A fee is never negative (checked before anything is read or written)."""
    if fee_cents < 0:
        raise ValueError(f"fee_cents must be >= 0, got {fee_cents}")


def replayed(
    stored_hash: str, stored_outcome: bytes, request_hash: str, account_id: str, key: str
) -> UnblockOutcome:
    """The first outcome of an idempotency key used again: the same request replays it,
    a different one is a conflict (nothing charged twice, nothing silently ignored)."""
    if stored_hash != request_hash:
        raise IdempotencyConflict(
            f"idempotency key {key!r} of account {account_id!r} was used with a different request"
        )
    return msgspec.structs.replace(decode_outcome(stored_outcome), replayed=True)


def new_outcome(
    current: Account,
    change: Change,
    target: BlockTarget,
    fee_cents: int,
    rule: str,
    idempotency_key: str,
    now: float,
) -> UnblockOutcome:
    """The changed account and its charge: what an unblock writes in one transaction."""
    new = apply_change(current, change)
    charge = make_charge(new.id, target, fee_cents, rule, idempotency_key, now)
    return UnblockOutcome(account=new, charge=charge)
