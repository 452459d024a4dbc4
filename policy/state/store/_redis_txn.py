"""One optimistic transaction on one pinned connection: WATCH, reads, MULTI/EXEC, WAIT.

Why not redis-py's pipeline: ``WAIT numreplicas timeout`` counts the replicas that hold
*this connection's* writes (Redis tracks the replication offset of each client's last
write), so it must run on the connection that sent EXEC. redis-py's pipelines hand that
connection back to the pool inside ``execute()`` (the single-server one) or hide it in a
private strategy object (the cluster one). Here the connection is taken from the pool of
the master that owns the watched keys' slot and kept for WATCH, the reads, EXEC and WAIT.

Failures and what they mean:

- EXEC answers nil: another writer changed a watched key, so :class:`redis.WatchError`
  and the caller reruns the body on fresh reads.
- MOVED/ASK or a dropped connection *before* EXEC was sent (a failover moved the slot,
  the old master is gone): nothing was written, so the cluster's slot map is refreshed
  and the transaction starts again, a few times.
- The connection drops *after* EXEC was sent: the outcome is unknown, so the error goes
  up (StoreUnavailable, 503 with Retry-After). Only a change with an idempotency key may
  be retried by the client; its retry replays the stored outcome if EXEC did land.
- WAIT answers fewer replicas than asked: the change is on the master but not yet on a
  replica that a failover would promote, so it is not acknowledged (:class:`NotReplicated`,
  a StoreUnavailable); the client's retry with the same key replays it and waits again.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
import redis.exceptions as rx

from .base import StoreUnavailable

__all__ = ["NotReplicated", "PinnedTxn", "run_pinned"]

T = TypeVar("T")

#: Attempts to get past a moved slot or a lost master before EXEC (failover takes seconds).
TOPOLOGY_ATTEMPTS = 8
#: Seconds between two such attempts (doubling, capped at 1 s).
TOPOLOGY_BACKOFF = 0.1


class NotReplicated(StoreUnavailable):
    """The write is on the master, but not yet on the replicas WAIT asked for."""


class PinnedTxn:
    """The body's view of one transaction: immediate reads, then ``multi()`` and writes.

    The same shape as a redis-py pipeline in WATCH mode, for the few commands the store's
    transactions use (GET, HMGET before ``multi``; SET, RPUSH, HSET after it).
    """

    def __init__(self, conn: Any) -> None:
        self._conn = conn
        self._queued: list[tuple[Any, ...]] = []
        self.in_multi = False
        self.exec_sent = False

    def _call(self, *args: Any) -> Any:
        self._conn.send_command(*args)
        return self._conn.read_response()

    def watch(self, *keys: str) -> None:
        self._call("WATCH", *keys)

    def unwatch(self) -> None:
        self._call("UNWATCH")

    def get(self, key: str) -> bytes | None:
        if self.in_multi:
            raise RuntimeError("a read after multi() would be queued, not answered")
        return self._call("GET", key)  # type: ignore[no-any-return]

    def hmget(self, key: str, fields: list[str]) -> list[bytes | None]:
        if self.in_multi:
            raise RuntimeError("a read after multi() would be queued, not answered")
        return list(self._call("HMGET", key, *fields))

    def hset_now(self, key: str, field: str, value: str) -> None:
        """An immediate HSET outside the transaction (gives WAIT a write to wait for)."""
        self._call("HSET", key, field, value)

    def multi(self) -> None:
        self.in_multi = True

    def set(self, key: str, value: bytes | str) -> None:
        self._queued.append(("SET", key, value))

    def rpush(self, key: str, *values: bytes | str) -> None:
        self._queued.append(("RPUSH", key, *values))

    def hset(self, key: str, mapping: dict[str, bytes | str]) -> None:
        args: list[Any] = []
        for name, value in mapping.items():
            args += [name, value]
        self._queued.append(("HSET", key, *args))

    def execute(self) -> list[Any]:
        """MULTI, the queued writes and EXEC in one round trip; WatchError if EXEC is nil."""
        commands = [("MULTI",), *self._queued, ("EXEC",)]
        self._conn.send_packed_command(self._conn.pack_commands(commands))
        self.exec_sent = True
        errors: list[Exception] = []
        for _ in range(len(commands) - 1):  # +OK and one +QUEUED per write
            try:
                self._conn.read_response()
            except rx.ResponseError as exc:  # a bad write aborts EXEC (EXECABORT below)
                errors.append(exc)
        try:
            replies = self._conn.read_response()
        except rx.ExecAbortError as exc:
            raise (errors[0] if errors else exc) from None
        if replies is None:
            raise redis.WatchError("a watched key changed")
        return list(replies)

    def wait(self, replicas: int, timeout_ms: int) -> int:
        """WAIT: how many replicas acknowledged this connection's writes so far."""
        return int(self._call("WAIT", replicas, timeout_ms))


class _Pin:
    """A connection of the master that owns ``key``'s slot, and the pool it came from."""

    def __init__(self, client: Any, key: str) -> None:
        if isinstance(client, redis.RedisCluster):
            node = client.get_node_from_key(key)  # type: ignore[no-untyped-call]
            self.pool = client.get_redis_connection(node).connection_pool
        else:
            self.pool = client.connection_pool
        self.conn = self.pool.get_connection()

    def release(self, broken: bool) -> None:
        if broken:
            self.conn.disconnect()  # type: ignore[no-untyped-call]
        self.pool.release(self.conn)


def run_pinned(
    client: Any,
    watch: list[str],
    body: Callable[[PinnedTxn], T],
    wait_replicas: int = 0,
    wait_timeout_ms: int = 1000,
) -> T:
    """WATCH ``watch``, run ``body``, EXEC what it queued, WAIT if asked; once.

    ``body`` returns without calling ``multi()`` when it writes nothing (a replay); with
    ``wait_replicas`` it is then made to write a marker, so that WAIT covers the replayed
    write too (replication is ordered: a later write acknowledged means the earlier one
    is). Raises WatchError for the caller's retry loop.
    """
    cluster = isinstance(client, redis.RedisCluster)
    delay = TOPOLOGY_BACKOFF
    for attempt in range(TOPOLOGY_ATTEMPTS):
        pin: _Pin | None = None
        txn: PinnedTxn | None = None
        broken = False
        try:
            pin = _Pin(client, watch[0])  # connects: a dead master fails here
            txn = PinnedTxn(pin.conn)
            txn.watch(*watch)
            result = body(txn)
            if txn.in_multi:
                txn.execute()
            elif wait_replicas:
                txn.hset_now(watch[-1], "acked_at", repr(time.time()))
            else:
                txn.unwatch()
            if wait_replicas:
                got = txn.wait(wait_replicas, wait_timeout_ms)
                if got < wait_replicas:
                    raise NotReplicated(
                        f"written on the master but on {got} of {wait_replicas} replicas "
                        f"after {wait_timeout_ms} ms: not acknowledged, retry with the same "
                        "Idempotency-Key"
                    )
            return result
        except (rx.MovedError, rx.AskError, rx.ConnectionError, rx.TimeoutError):
            broken = True
            sent = txn is not None and txn.exec_sent
            if sent or not cluster or attempt == TOPOLOGY_ATTEMPTS - 1:
                raise
            _refresh(client)
            time.sleep(delay)
            delay = min(delay * 2, 1.0)
        except redis.WatchError:
            raise
        except BaseException:
            broken = True  # a half-read reply must not go back to the pool
            raise
        finally:
            if pin is not None:
                pin.release(broken)
    raise AssertionError("unreachable")  # the last attempt raises


def _refresh(client: Any) -> None:
    """Re-read the cluster's slot map after a failover (best effort: nodes may be down)."""
    # Best effort: nodes may still be down; the next attempt fails the same way and retries.
    with contextlib.suppress(rx.RedisError, OSError):
        client.nodes_manager.initialize()
