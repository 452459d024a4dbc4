"""Customer state behind one protocol: SQLite embedded, Redis at scale (DESIGN.md, State).

``open_store(url)`` picks the backend from a URL; both pass the same contract tests
(``tests/store/test_contract.py``).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from .base import (
    AccountExists,
    AccountNotFound,
    IdempotencyConflict,
    KeyNotFound,
    Store,
    StoreError,
    StoreUnavailable,
    UserExists,
    UserNotFound,
)
from .redis import RedisStore
from .sqlite import SqliteStore

__all__ = [
    "AccountExists",
    "AccountNotFound",
    "IdempotencyConflict",
    "KeyNotFound",
    "RedisStore",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "UserExists",
    "UserNotFound",
    "open_store",
]

_REDIS_SCHEMES = ("redis", "rediss", "unix", "redis-cluster")


def open_store(url: str) -> Store:
    """Open the store named by ``url``.

    ``sqlite:///var/lib/callpolicy/state.db`` (an absolute path after ``sqlite://``, as in
    ``file:///``) or a plain path opens a SqliteStore; ``redis-cluster://host:port`` a
    RedisStore on a Redis Cluster; ``redis://host:port/db`` (also
    ``rediss://`` and ``unix://``) a RedisStore.
    """
    scheme, sep, _ = url.partition("://")
    if not sep:
        return SqliteStore(url)
    if scheme == "sqlite":
        parts = urlsplit(url)
        if parts.netloc or not parts.path:
            raise ValueError(
                f"store URL {url!r}: expected sqlite:///absolute/path.db or a plain path"
            )
        return SqliteStore(parts.path)
    if scheme in _REDIS_SCHEMES:
        return RedisStore(url)
    raise ValueError(f"store URL {url!r}: unknown scheme {scheme!r} (expected sqlite or redis)")
