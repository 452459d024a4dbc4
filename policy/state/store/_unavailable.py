"""A backend's "cannot reach it now" errors, as :class:`StoreUnavailable` (issue 11).

Redis down, failing over or loading, SQLite locked past its busy timeout or its file
unopenable: the caller can do nothing but retry later (the API answers 503 with
``Retry-After``), so each backend class is decorated with :func:`unavailable_on` and its
predicate, and every public method translates those errors. Nothing else is touched: a
closed store or a bug stays what it is (a 500), and the store's own errors pass through.
"""

from __future__ import annotations

import functools
import inspect
import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

import redis.exceptions as rx

from .base import StoreError, StoreUnavailable

__all__ = ["redis_unavailable", "sqlite_unavailable", "unavailable_on"]

T = TypeVar("T", bound=type)

_REDIS_UNAVAILABLE: tuple[type[Exception], ...] = (
    rx.ConnectionError,  # refused, reset, Sentinel without a master, loading (BusyLoadingError)
    rx.TimeoutError,
    rx.ReadOnlyError,  # a replica during failover
    rx.ClusterDownError,
    rx.TryAgainError,
)

#: SQLite messages of a database that is busy or cannot be opened right now.
_SQLITE_UNAVAILABLE = ("database is locked", "database table is locked", "unable to open")


def redis_unavailable(exc: Exception) -> bool:
    """Whether ``exc`` of redis-py means the server cannot be used right now."""
    return isinstance(exc, _REDIS_UNAVAILABLE)


def sqlite_unavailable(exc: Exception) -> bool:
    """Whether ``exc`` means the database file cannot be used right now (locked, unopenable)."""
    if isinstance(exc, sqlite3.OperationalError):
        message = str(exc).lower()
        return any(m in message for m in _SQLITE_UNAVAILABLE) or "disk i/o error" in message
    return isinstance(exc, OSError)  # the write-lock file next to the database


def unavailable_on(is_unavailable: Callable[[Exception], bool]) -> Callable[[T], T]:
    """Class decorator: every public method raises StoreUnavailable for such errors."""

    def decorate(cls: T) -> T:
        for name, attr in list(vars(cls).items()):
            if not name.startswith("_") and inspect.isfunction(attr):
                setattr(cls, name, _translating(attr, cls.__name__, is_unavailable))
        return cls

    return decorate


def _translating(
    fn: Callable[..., Any], backend: str, is_unavailable: Callable[[Exception], bool]
) -> Callable[..., Any]:
    @functools.wraps(fn)
    def method(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except StoreError:
            raise
        except Exception as exc:
            if is_unavailable(exc):
                raise StoreUnavailable(f"{backend}.{fn.__name__}: {exc}") from exc
            raise

    return method
