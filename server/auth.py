"""Who is calling, and what they may see and change (clause 5.1: administrator, employee).

API keys travel in ``Authorization: Bearer <key>`` or ``X-API-Key: <key>`` and are stored
only as their SHA-256 hash (``Store.put_api_key``). Every ``/v1`` route is authenticated
by :class:`ApiKeyAuth` except ``GET /v1/operator-blocks``, the published operator block
list (clause 9.5, public information), which ``server.app`` mounts outside it. The access
rules are:

- ``operator``: every account, the rules, account creation;
- ``admin``: reads and changes its own account;
- ``employee``: reads its own account (changes answer 403: it knows the account exists);
- another account's data answers 404 exactly like an account that does not exist, so a
  key cannot find out which account ids exist (never 403 there);
- operator-only routes answer 403 to admin and employee keys (no account is named).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, NotFoundException
from litestar.exceptions import PermissionDeniedException as Forbidden
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult
from litestar.params import FromPath
from litestar.types import ASGIApp

from policy import Account, KeyNotFound, Principal, Role, Store, StoreError

from .deps import CtxDep

__all__ = [
    "KEYS_STATE_KEY",
    "ApiKeyAuth",
    "GuardDoc",
    "PrincipalCache",
    "account_not_found",
    "add_key",
    "documented_guard",
    "guard_doc",
    "hash_key",
    "may_change_account",
    "new_key",
    "operator_only",
    "presented_key",
    "principal_of",
    "provide_account",
    "rotate_key",
    "visible_account_id",
]

log = logging.getLogger("callpolicy.server")

KEY_PREFIX = "cpk_"
"""Marks a callpolicy key in logs and secret scanners."""


def new_key() -> str:
    """A fresh random API key (256 bits); shown once, never stored in clear."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The stored form of a key: SHA-256, hex (keys are random, so no salt is needed)."""
    return hashlib.sha256(key.encode()).hexdigest()


def add_key(
    store: Store, role: Role, account: str | None, now: float = 0.0
) -> tuple[str, Principal]:
    """Create a key for ``role`` (bound to ``account`` unless operator); return it once."""
    if role == "operator" and account is not None:
        raise ValueError("an operator key is not bound to an account: drop --account")
    if role != "operator":
        if not account:
            raise ValueError(f"an {role} key needs --account (clause 5.1: per account)")
        if store.get_account(account) is None:
            raise ValueError(f"account {account!r} does not exist: create it first")
    key = new_key()
    digest = hash_key(key)
    principal = Principal(key_id="key_" + digest[:12], role=role, account=account)
    store.put_api_key(digest, principal, now)
    return key, principal


def rotate_key(store: Store, key_id: str, now: float) -> tuple[str, Principal]:
    """A new key with the role and account of ``key_id``, which is revoked (KeyNotFound)."""
    old = next((k for k in store.list_api_keys() if k.key_id == key_id), None)
    if old is None or old.revoked_at is not None:
        raise KeyNotFound(key_id)
    key, principal = add_key(store, old.role, old.account, now)
    store.revoke_api_key(key_id, now)
    return key, principal


def presented_key(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The key of ``Authorization: Bearer`` or ``X-API-Key``, if any."""
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return connection.headers.get("x-api-key", "").strip() or None


class PrincipalCache:
    """The principals of recently used keys, kept ``ttl`` seconds (bounded, oldest out).

    Saves the store read of every request (a Redis round trip on the event loop). A key
    added or revoked takes effect within ``ttl`` (a revocation through this process at
    once: :meth:`forget`). Unknown keys are never cached. Each key's last use is written
    to the store at most once a minute per process. Used on the event loop only.
    """

    def __init__(
        self, store: Store, clock: Callable[[], float], ttl: float, size: int = 10_000
    ) -> None:
        """Cache lookups of ``store`` for ``ttl`` seconds of ``clock`` (0: no caching)."""
        self._store = store
        self._clock = clock
        self._ttl = ttl
        self._size = size
        self._entries: dict[str, tuple[Principal, float]] = {}
        self._touched: dict[str, float] = {}

    def forget(self, key_id: str) -> None:
        """Drop a revoked key from the cache at once."""
        for key_hash, (principal, _) in list(self._entries.items()):
            if principal.key_id == key_id:
                del self._entries[key_hash]

    def get(self, key_hash: str) -> Principal | None:
        """The principal of ``key_hash``, or None for an unknown key."""
        now = self._clock()
        hit = self._entries.get(key_hash)
        if hit is not None and hit[1] > now:
            return hit[0]
        # A point read (SQLite page cache or one Redis round trip): on the event loop, as a
        # thread hop would cost more than the read.
        principal = self._store.get_api_key(key_hash)
        if principal is not None:
            self._touch(key_hash, now)
        if principal is not None and self._ttl > 0:
            if key_hash not in self._entries and len(self._entries) >= self._size:
                del self._entries[next(iter(self._entries))]  # the oldest inserted
            self._entries[key_hash] = (principal, now + self._ttl)
        return principal

    def _touch(self, key_hash: str, now: float) -> None:
        """Record the key's last use, at most once per TOUCH_INTERVAL (a write each time)."""
        if now - self._touched.get(key_hash, float("-inf")) < TOUCH_INTERVAL:
            return
        if len(self._touched) >= self._size:
            self._touched.clear()
        self._touched[key_hash] = now
        try:
            self._store.touch_api_key(key_hash, now)
        except StoreError as exc:  # the last use is bookkeeping: never fail a request on it
            log.warning("could not record the last use of a key: %s", exc)


#: Seconds between two writes of one key's last use by one process.
TOUCH_INTERVAL = 60.0

KEYS_STATE_KEY = "principals"
"""Key of the PrincipalCache in the app's ``state`` (Litestar deep-copies middleware
arguments, so shared objects travel through the state)."""


class ApiKeyAuth(AbstractAuthenticationMiddleware):
    """Authenticate every request of the router it is put on (OPTIONS included)."""

    def __init__(self, app: ASGIApp) -> None:
        """Wrap ``app``; keys are looked up through the app state's PrincipalCache."""
        super().__init__(app, exclude_http_methods=())

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        """The Principal of the presented key, or 401."""
        key = presented_key(connection)
        principals: PrincipalCache = connection.app.state[KEYS_STATE_KEY]
        principal = principals.get(hash_key(key)) if key else None
        if principal is None:
            raise NotAuthorizedException(
                "missing or unknown API key (Authorization: Bearer <key> or X-API-Key)",
                headers={"WWW-Authenticate": 'Bearer realm="callpolicy"'},
            )
        return AuthenticationResult(user=principal, auth=principal.key_id)


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The Principal ApiKeyAuth put on the connection."""
    user = connection.scope.get("user")
    if not isinstance(user, Principal):  # a route outside ApiKeyAuth asked for it: a bug
        raise RuntimeError("no authenticated principal on this route")
    return user


def account_not_found(account_id: str) -> NotFoundException:
    """The one answer for a missing account and for another customer's account."""
    return NotFoundException(f"no account {account_id!r}")


def visible_account_id(principal: Principal, account_id: str) -> str:
    """``account_id`` if the principal may see it, else the 404 of a missing account."""
    if principal.role != "operator" and principal.account != account_id:
        raise account_not_found(account_id)
    return account_id


@dataclass(frozen=True)
class GuardDoc:
    """What a guard lets through and what it answers otherwise (the OpenAPI document's
    ``x-roles`` and error responses are derived from it: ``server.openapi``)."""

    roles: tuple[Role, ...]
    """The roles that may pass (for an account's admin and employee: its own account)."""
    answers: dict[int, str]
    """Each status it answers the others, and when."""


Guard = TypeVar("Guard", bound=Callable[..., Any])
_GUARD_DOCS: dict[Callable[..., Any], GuardDoc] = {}


def documented_guard(roles: tuple[Role, ...], answers: dict[int, str]) -> Callable[[Guard], Guard]:
    """Decorator of a guard: record who passes it and what it answers (``guard_doc``)."""

    def register(guard: Guard) -> Guard:
        _GUARD_DOCS[guard] = GuardDoc(roles, answers)
        return guard

    return register


def guard_doc(guard: Callable[..., Any]) -> GuardDoc | None:
    """The GuardDoc of a guard decorated with ``documented_guard``, else None."""
    return _GUARD_DOCS.get(guard)


@documented_guard(("operator",), {403: "A customer key (admin, employee): operators only."})
def operator_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: operators only (403 for customer keys; no account is named here)."""
    if principal_of(connection).role != "operator":
        raise Forbidden("this operation is for operator keys only")


@documented_guard(
    ("operator", "admin"),
    {
        403: "An employee key: it may read the account, not change it (clause 5.1).",
        404: "No such account, or another customer's (the same answer).",
    },
)
def may_change_account(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard of account changes: operators, or the account's own admin (clause 5.1)."""
    principal = principal_of(connection)
    visible_account_id(principal, str(connection.path_params["account_id"]))
    if principal.role == "employee":
        raise Forbidden("employee keys may read but not change the account (clause 5.1)")


def provide_account(ctx: CtxDep, account_id: FromPath[str]) -> Account:
    """Dependency ``account``: the path's account, if it exists and the caller may see it."""
    account = ctx.store.get_account(visible_account_id(ctx.principal, account_id))
    if account is None:
        raise account_not_found(account_id)
    return account
