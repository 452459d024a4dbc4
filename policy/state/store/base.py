"""The store protocol: one interface, two backends (SQLite embedded, Redis at scale).

Every mutation is atomic with its change-feed event and bumps the account's version; an
unblock writes the state change, the ledger entry and the idempotency record in ONE
transaction, so a retried unblock never charges twice and a crash never leaves a charge
without its state change (or the reverse). Time is passed in (``now``), never read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from policy.errors import PolicyError
from policy.state.accounts import (
    Account,
    Applied,
    AuditEntry,
    BlockTarget,
    ChangeEvent,
    Charge,
    ChargeRequest,
    Effect,
    KeyInfo,
    NodeStatusV1,
    Principal,
    UnblockOutcome,
)
from policy.state.users import User, WebSession

__all__ = [
    "AccountExists",
    "AccountNotFound",
    "IdempotencyConflict",
    "KeyNotFound",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "UserExists",
    "UserNotFound",
]


class StoreError(PolicyError):
    """Base of the store's errors."""


class AccountNotFound(StoreError):
    """No account with that id."""


class AccountExists(StoreError):
    """An account with that id exists already."""


class KeyNotFound(StoreError):
    """No API key with that id."""


class UserExists(StoreError):
    """A web login with that name exists already (login names are unique, clause 5.1)."""


class UserNotFound(StoreError):
    """No web login with that name."""


class IdempotencyConflict(StoreError):
    """The idempotency key was used before with a different request."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or is busy right now (Redis down or failing over,
    SQLite locked or unopenable): nothing was written by the failed call; retry later."""


Change = Callable[[Account], Account]
EffectChange = Callable[[Account], Effect]
UserChange = Callable[[User], User]


class Store(Protocol):
    """What the API and the edge need from customer state."""

    notifies: bool
    """Whether ``wait_changes`` blocks on the server's notification (cheap while idle)
    rather than polling."""

    def create_account(self, account: Account, now: float) -> Account:
        """Insert a new account (version 1); AccountExists if the id is taken."""
        ...

    def get_account(self, account_id: str) -> Account | None:
        """The account, or None."""
        ...

    def list_accounts(self) -> list[str]:
        """All account ids, sorted."""
        ...

    def update_account(self, account_id: str, change: Change, now: float) -> Account:
        """Apply ``change`` atomically (retrying on a concurrent write); emit a change event.

        ``change`` gets the current account and returns the new one (version untouched: the
        store sets it). It may raise; then nothing is written.
        """
        ...

    def apply(
        self,
        account_id: str,
        change: EffectChange,
        now: float,
        charge: ChargeRequest | None = None,
    ) -> Applied:
        """Apply ``change`` and write the account, its audit lines, its change event (with
        the effect's ``event`` as detail) and, given ``charge``, its Charge (fee > 0) and
        idempotency record, all in one transaction.

        With ``charge``, the same (account, idempotency key) again with the same
        ``request_hash`` returns the first outcome with ``replayed=True`` and writes
        nothing; with another hash it raises IdempotencyConflict.
        """
        ...

    def audit(self, account_id: str) -> list[AuditEntry]:
        """The account's audit trail (append-only), oldest first."""
        ...

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
        """Apply ``change`` and append a Charge of ``fee_cents`` in one transaction.

        The same (account, idempotency_key) again with the same ``request_hash`` returns
        the first outcome with ``replayed=True`` and writes nothing; with another hash it
        raises IdempotencyConflict. A fee of 0 records no charge but still the key.
        """
        ...

    def charges(self, account_id: str) -> list[Charge]:
        """The account's ledger, oldest first."""
        ...

    def charges_page(self, account_id: str, after: int, limit: int) -> list[tuple[int, Charge]]:
        """Up to ``limit`` charges after position ``after`` (0: from the first), oldest first,
        each with its position (1, 2, ...: the cursor of the next page)."""
        ...

    def put_api_key(self, key_hash: str, principal: Principal, now: float = 0.0) -> None:
        """Store an API key by its hash (keys are never stored in clear)."""
        ...

    def get_api_key(self, key_hash: str) -> Principal | None:
        """The principal of a key hash, or None (unknown or revoked)."""
        ...

    def list_api_keys(self, account: str | None = None) -> list[KeyInfo]:
        """Every key (of ``account`` if given), revoked ones included, by creation."""
        ...

    def revoke_api_key(self, key_id: str, now: float) -> KeyInfo:
        """Revoke the key ``key_id`` (KeyNotFound if none); revoking twice keeps the first time."""
        ...

    def touch_api_key(self, key_hash: str, now: float) -> None:
        """Record the key's last use."""
        ...

    # -- web logins (clause 5.1): users, sessions, login failures ------------------------

    def create_user(self, user: User) -> User:
        """Insert a web login; UserExists if its (normalised) login name is taken."""
        ...

    def get_user(self, login: str) -> User | None:
        """The login, or None."""
        ...

    def list_users(self, account: str | None) -> list[User]:
        """The logins of ``account`` (None: the operators' logins), by name."""
        ...

    def update_user(self, login: str, change: UserChange) -> User:
        """Apply ``change`` to the login atomically (UserNotFound if none); its name, account
        and role stay (``change`` may not move a login to another account)."""
        ...

    def put_session(self, token_hash: str, session: WebSession, now: float) -> None:
        """Store (or refresh) a session by the SHA-256 of its token, until ``expires_at``
        (``now`` makes the time to live; expired sessions may be deleted meanwhile)."""
        ...

    def get_session(self, token_hash: str, now: float) -> WebSession | None:
        """The session, or None when unknown or expired at ``now``."""
        ...

    def delete_session(self, token_hash: str) -> None:
        """End one session (logout); unknown hashes are ignored."""
        ...

    def delete_sessions_of(self, login: str) -> int:
        """End every session of ``login`` (disabled, or a new password); how many there were."""
        ...

    def note_login_failure(self, key: str, now: float, window_s: float) -> int:
        """Record a failed login for ``key`` (``user:<login>``, ``addr:<ip>``) and return
        how many failures it had in the last ``window_s`` seconds, this one included."""
        ...

    def login_failures(self, key: str, now: float, window_s: float) -> list[float]:
        """The times of ``key``'s failed logins in the last ``window_s`` seconds, oldest first."""
        ...

    def clear_login_failures(self, key: str) -> None:
        """Forget ``key``'s failed logins (after a successful login)."""
        ...

    def report_node(self, status: NodeStatusV1) -> None:
        """Record what a node serves (replacing its previous report)."""
        ...

    def nodes(self) -> list[NodeStatusV1]:
        """Every node's last report, by name."""
        ...

    def publish_rules_change(self, now: float) -> ChangeEvent:
        """Emit a ``rules`` event (after a reload) so every follower re-reads its rules."""
        ...

    def changes_since(self, seq: int, limit: int = 1000) -> list[ChangeEvent]:
        """Events with ``seq`` greater than the given one, oldest first."""
        ...

    def wait_changes(self, seq: int, timeout: float) -> list[ChangeEvent]:
        """Like changes_since, but block up to ``timeout`` seconds until there is one."""
        ...

    def last_seq(self) -> int:
        """The newest event's seq (0 if none)."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...
