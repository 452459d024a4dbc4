"""The store at scale: Redis (Sentinel or Cluster), the change feed a Redis Stream.

Key layout. Every key of one account carries the hash tag ``{<account>}``, so they share
one Cluster slot and one MULTI/EXEC may touch them all:

- ``cp:{<account>}:doc``: the Account as msgspec JSON (its ``version`` inside);
- ``cp:{<account>}:charges``: the ledger, a list of Charge JSON (RPUSH, oldest first);
- ``cp:{<account>}:audit``: the audit trail, a list of AuditEntry JSON (RPUSH only);
- ``cp:{<account>}:idem:<key>``: hash ``{request_hash, outcome}`` of a charged change;
- ``cp:accounts``: set of all account ids (the index);
- ``cp:key:<hash>``: the Principal JSON of a live API key hash (deleted on revocation);
- ``cp:keyinfo:<hash>``: hash ``{principal, created_at, revoked_at, last_used_at}`` of
  every key, and ``cp:keys`` the set of all key hashes (listing and revocation);
- ``cp:nodes``: hash node name -> NodeStatusV1 JSON (what each API and edge serves);
- ``cp:{feed}``: the change feed, a Stream with ids ``<seq>-1`` and one field ``e`` (the
  ChangeEvent JSON; its seq is taken from the entry id), trimmed to about 100 000 entries;
- ``cp:{feed}:seq``: the feed's counter (the integer seq).

Atomicity. A mutation WATCHes the account doc (and, for an unblock, the idempotency key),
reads, calls ``change`` in Python and writes doc + ledger + idempotency record in one
MULTI/EXEC, retrying on WatchError: no lost update, no charge without its state change,
and two concurrent unblocks with one key charge once (the loser retries and replays).

Crash windows (both stem from Cluster forbidding cross-slot transactions):

- The feed event is appended right after EXEC by a small Lua script (INCR the counter,
  XADD with the explicit id ``<seq>-1``), since the feed lives in another slot. If the
  writer dies between EXEC and the script, the change is stored but no event is
  published: followers miss it until they restart, and a follower that restarts re-reads
  all accounts. For the same reason two concurrent writers of one account may publish
  their events in the opposite order of their EXECs; an event only says "re-read this
  account", so a follower ignores versions older than the one it holds.
- ``create_account`` adds the id to ``cp:accounts`` before it creates the doc; a crash in
  between leaves an id without a doc, which ``list_accounts`` skips.

Trimming (MAXLEN ~ 100000) drops old events: a follower further behind than that must
re-read all accounts, as after a restart.

Durability: production Redis runs with AOF ``appendfsync always``, so an EXEC that
returned (an acknowledged charge) is on disk; the tests' redis-server runs with
``--appendonly yes --appendfsync always`` too. With replicas (``?wait_replicas=N``), a
charge is acknowledged only after WAIT saw N replicas hold it, so a failover that promotes
one of them keeps it (``_redis_txn``: transactions run on one pinned connection of the
slot's master, as WAIT counts the replicas holding that connection's writes). The client
is redis-py's sync client (thread-safe through its connection pool).
"""

from __future__ import annotations

import math
from typing import Any, Literal, cast

import msgspec
import redis

from policy.state.accounts import (
    Account,
    Applied,
    AuditEntry,
    ChangeEvent,
    Charge,
    ChargeRequest,
    KeyInfo,
    NodeStatusV1,
    Principal,
)

from . import _records as rec
from ._derived import Derived
from ._redis_txn import PinnedTxn, run_pinned
from ._redis_users import RedisUsers
from ._unavailable import redis_unavailable, unavailable_on
from .base import (
    AccountExists,
    AccountNotFound,
    EffectChange,
    KeyNotFound,
    StoreError,
)

__all__ = ["CLUSTER_SCHEME", "FEED_MAXLEN", "RedisStore", "close_cluster_client"]

#: Approximate length the change-feed stream is trimmed to.
FEED_MAXLEN = 100_000

_FEED = "cp:{feed}"
_FEED_SEQ = "cp:{feed}:seq"
_ACCOUNTS = "cp:accounts"

_Kind = Literal["account", "rules"]

# KEYS[1] feed stream, KEYS[2] counter (one slot: tag {feed}); ARGV: maxlen, event JSON.
_APPEND = """
local seq = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], seq .. '-1', 'e', ARGV[2])
return seq
"""


def _doc(account_id: str) -> str:
    return f"cp:{{{account_id}}}:doc"


def _charges(account_id: str) -> str:
    return f"cp:{{{account_id}}}:charges"


def _audit(account_id: str) -> str:
    return f"cp:{{{account_id}}}:audit"


def _idem(account_id: str, key: str) -> str:
    return f"cp:{{{account_id}}}:idem:{key}"


def _api_key(key_hash: str) -> str:
    return f"cp:key:{key_hash}"


def _key_info(key_hash: str) -> str:
    return f"cp:keyinfo:{key_hash}"


#: The URL scheme of a Redis Cluster (``redis-cluster://host:port``).
CLUSTER_SCHEME = "redis-cluster"

_KEYS = "cp:keys"
_NODES = "cp:nodes"
_INFO_FIELDS = ("principal", "created_at", "revoked_at", "last_used_at")


@unavailable_on(redis_unavailable)
class RedisStore(Derived, RedisUsers):
    """The Store on Redis (see the module docstring for the key layout and crash windows)."""

    #: ``wait_changes`` is XREAD BLOCK: the server wakes the reader.
    notifies = True

    def __init__(self, url: str) -> None:
        """Connect to ``url``: ``redis://host:port/db`` one server, ``redis-cluster://host:port``
        a Redis Cluster (any node; the client discovers the others and follows MOVED).

        Query parameters of ours: ``wait_replicas=N`` (a charged change is acknowledged only
        once N replicas hold it: WAIT; 0, the default, does not wait) and
        ``wait_timeout_ms`` (how long WAIT may block, 1000 by default).
        """
        url, self.wait_replicas, self.wait_timeout_ms = _wait_params(url)
        self.cluster = url.startswith(CLUSTER_SCHEME + "://")
        if self.cluster:
            # Every key of an account shares its slot (the {account} tag), the feed and its
            # counter share {feed}: WATCH/MULTI/EXEC and the append script stay in one slot.
            real = "redis://" + url.partition("://")[2]
            self._r: redis.Redis = redis.RedisCluster.from_url(real)  # type: ignore[assignment]
        else:
            self._r = redis.Redis.from_url(url)
        self._append = self._r.register_script(_APPEND)

    # -- helpers ------------------------------------------------------------------------

    def _emit(
        self, account: str, kind: _Kind, version: int, now: float, detail: str = ""
    ) -> ChangeEvent:
        # seq 0 is a placeholder in the stored JSON: the entry id carries the real seq.
        event = ChangeEvent(
            seq=0, account=account, kind=kind, version=version, at=now, detail=detail
        )
        seq = int(self._append(keys=[_FEED, _FEED_SEQ], args=[FEED_MAXLEN, rec.encode(event)]))
        return msgspec.structs.replace(event, seq=seq)

    def _transact(self, watch: list[str], body: Any, wait: bool = False) -> Any:
        """Run ``body(txn)`` under WATCH ``watch``, retrying while another writer wins.

        ``body`` reads in immediate mode, calls ``txn.multi()`` and queues its writes; its
        return value is returned once EXEC succeeded (and, with ``wait``, once
        ``wait_replicas`` replicas hold it). If it returns without ``multi()`` it wrote
        nothing and its reads need no confirmation (a replay of an idempotency record,
        which is never rewritten). An exception from ``body`` aborts without writing.
        The transaction runs on one pinned connection of the slot's master
        (``_redis_txn``: WAIT must follow EXEC on the same connection).
        """
        replicas = self.wait_replicas if wait else 0
        for _ in range(rec.MAX_RETRIES):
            try:
                return run_pinned(self._r, watch, body, replicas, self.wait_timeout_ms)
            except redis.WatchError:
                continue
        raise StoreError(f"gave up after {rec.MAX_RETRIES} concurrent-write retries on {watch}")

    @staticmethod
    def _load(txn: PinnedTxn, account_id: str) -> Account:
        raw = txn.get(_doc(account_id))
        if raw is None:
            raise AccountNotFound(account_id)
        return rec.decode_account(raw)

    # -- accounts -----------------------------------------------------------------------

    def create_account(self, account: Account, now: float) -> Account:
        """Insert a new account (version 1); AccountExists if the id is taken."""
        new = rec.validate_new(msgspec.structs.replace(account, version=1))
        # Index first (idempotent): a crash before SET leaves an id list_accounts skips.
        self._r.sadd(_ACCOUNTS, new.id)
        if not self._r.set(_doc(new.id), rec.encode(new), nx=True):
            raise AccountExists(new.id)
        self._emit(new.id, "account", new.version, now)
        return new

    def get_account(self, account_id: str) -> Account | None:
        """The account, or None."""
        raw = cast(bytes | None, self._r.get(_doc(account_id)))
        return None if raw is None else rec.decode_account(raw)

    def list_accounts(self) -> list[str]:
        """All account ids that have a doc, sorted."""
        ids = sorted(m.decode() for m in cast(set[bytes], self._r.smembers(_ACCOUNTS)))
        if not ids:
            return []
        with self._r.pipeline(transaction=False) as pipe:
            for account_id in ids:
                pipe.exists(_doc(account_id))
            present = pipe.execute()
        return [a for a, n in zip(ids, present, strict=True) if n]

    def apply(
        self,
        account_id: str,
        change: EffectChange,
        now: float,
        charge: ChargeRequest | None = None,
    ) -> Applied:
        """Account, audit lines, charge and idempotency record in one MULTI/EXEC."""
        if charge is not None:
            rec.check_fee(charge.fee_cents)
        idem = _idem(account_id, charge.idempotency_key) if charge is not None else ""
        detail = [""]

        def body(pipe: PinnedTxn) -> Applied:
            if charge is not None:
                stored = pipe.hmget(idem, ["request_hash", "outcome"])
                if stored[0] is not None and stored[1] is not None:
                    return rec.replayed(
                        stored[0].decode(),
                        stored[1],
                        charge.request_hash,
                        account_id,
                        charge.idempotency_key,
                    )
            outcome, detail[0] = rec.new_outcome(self._load(pipe, account_id), change, charge, now)
            pipe.multi()
            pipe.set(_doc(account_id), rec.encode(outcome.account))
            if outcome.audit:
                pipe.rpush(_audit(account_id), *(rec.encode(line) for line in outcome.audit))
            if outcome.charge is not None:
                pipe.rpush(_charges(account_id), rec.encode(outcome.charge))
            if charge is not None:
                pipe.hset(
                    idem,
                    mapping={"request_hash": charge.request_hash, "outcome": rec.encode(outcome)},
                )
            return outcome

        watch = [_doc(account_id), idem] if idem else [_doc(account_id)]
        # A charge is acknowledged only once replicas hold it (``wait_replicas``, issue 12).
        outcome = cast(Applied, self._transact(watch, body, wait=charge is not None))
        if not outcome.replayed:
            self._emit(account_id, "account", outcome.account.version, now, detail[0])
        return outcome

    def audit(self, account_id: str) -> list[AuditEntry]:
        """The account's audit trail, oldest first."""
        raw = cast(list[bytes], self._r.lrange(_audit(account_id), 0, -1))
        return [rec.decode_audit(r) for r in raw]

    def charges_page(self, account_id: str, after: int, limit: int) -> list[tuple[int, Charge]]:
        """Up to ``limit`` charges after position ``after``, each with its position."""
        if limit <= 0:
            return []
        start = max(0, after)
        raw = cast(list[bytes], self._r.lrange(_charges(account_id), start, start + limit - 1))
        return [(start + i + 1, rec.decode_charge(r)) for i, r in enumerate(raw)]

    def charges(self, account_id: str) -> list[Charge]:
        """The account's ledger, oldest first."""
        raw = cast(list[bytes], self._r.lrange(_charges(account_id), 0, -1))
        return [rec.decode_charge(r) for r in raw]

    # -- api keys -----------------------------------------------------------------------

    def put_api_key(self, key_hash: str, principal: Principal, now: float = 0.0) -> None:
        """Store an API key by its hash (replacing an earlier principal of that hash)."""
        doc = rec.encode(principal)
        with self._r.pipeline(transaction=False) as pipe:
            pipe.hset(_key_info(key_hash), mapping={"principal": doc, "created_at": now})
            pipe.sadd(_KEYS, key_hash)
            pipe.set(_api_key(key_hash), doc)  # last: a key is live once listed
            pipe.execute()

    def get_api_key(self, key_hash: str) -> Principal | None:
        """The principal of a key hash, or None (unknown or revoked)."""
        raw = cast(bytes | None, self._r.get(_api_key(key_hash)))
        return None if raw is None else rec.decode_principal(raw)

    def _infos(self) -> list[tuple[str, KeyInfo]]:
        hashes = sorted(m.decode() for m in cast(set[bytes], self._r.smembers(_KEYS)))
        with self._r.pipeline(transaction=False) as pipe:
            for h in hashes:
                pipe.hmget(_key_info(h), list(_INFO_FIELDS))
            rows = pipe.execute()
        out = []
        for h, (principal, created, revoked, used) in zip(hashes, rows, strict=True):
            if principal is None:
                continue
            num = [None if v is None else float(v) for v in (created, revoked, used)]
            out.append((h, rec.key_info(principal, num[0] or 0.0, num[1], num[2])))
        return sorted(out, key=lambda x: (x[1].created_at, x[1].key_id))

    def list_api_keys(self, account: str | None = None) -> list[KeyInfo]:
        """Every key (of ``account`` if given), revoked ones included, by creation."""
        return [k for _, k in self._infos() if account is None or k.account == account]

    def revoke_api_key(self, key_id: str, now: float) -> KeyInfo:
        """Delete the live key and record the time; revoking twice keeps the first time."""
        for key_hash, info in self._infos():
            if info.key_id == key_id:
                self._r.hsetnx(_key_info(key_hash), "revoked_at", now)
                self._r.delete(_api_key(key_hash))
                revoked = info.revoked_at if info.revoked_at is not None else now
                return msgspec.structs.replace(info, revoked_at=revoked)
        raise KeyNotFound(key_id)

    def touch_api_key(self, key_hash: str, now: float) -> None:
        """Record the key's last use."""
        self._r.hset(_key_info(key_hash), "last_used_at", now)

    # -- nodes --------------------------------------------------------------------------

    def report_node(self, status: NodeStatusV1) -> None:
        """Record what a node serves (one hash, ``cp:nodes``: one slot)."""
        self._r.hset(_NODES, status.node, rec.encode(status))

    def nodes(self) -> list[NodeStatusV1]:
        """Every node's last report, by name."""
        raw = cast(dict[bytes, bytes], self._r.hgetall(_NODES))
        return sorted((rec.decode_node(v) for v in raw.values()), key=lambda n: n.node)

    # -- change feed --------------------------------------------------------------------

    def publish_rules_change(self, now: float) -> ChangeEvent:
        """Emit a ``rules`` event (after a reload)."""
        return self._emit("", "rules", 0, now)

    def changes_since(self, seq: int, limit: int = 1000) -> list[ChangeEvent]:
        """Events with ``seq`` greater than the given one, oldest first."""
        if limit <= 0:  # XRANGE COUNT must be positive; SQLite's LIMIT 0 returns nothing
            return []
        # Entry ids are "<seq>-1", so "<seq+1>-0" is the first id after seq (inclusive).
        entries = self._r.xrange(_FEED, min=f"{seq + 1}-0", max="+", count=limit)
        return _events(entries or [])

    def wait_changes(self, seq: int, timeout: float) -> list[ChangeEvent]:
        """Block on XREAD up to ``timeout`` seconds until there is an event after ``seq``.

        The blocked call holds one pooled connection; a ``socket_timeout`` in the URL must
        exceed the longest ``timeout`` used.
        """
        if timeout <= 0:  # BLOCK 0 would mean "forever"
            return self.changes_since(seq)
        reply = self._r.xread(
            {_FEED: f"{seq}-1"}, count=1000, block=max(1, math.ceil(timeout * 1000))
        )
        # RESP2 replies [[stream, entries]], RESP3 {stream: [entries]}.
        if not reply:
            return []
        streams = reply.values() if isinstance(reply, dict) else [s[1] for s in reply]
        return [e for entries in streams for e in _events(entries)]

    def last_seq(self) -> int:
        """The newest event's seq (0 if none)."""
        raw = cast(bytes | None, self._r.get(_FEED_SEQ))
        return 0 if raw is None else int(raw)

    def close(self) -> None:
        """Release the connection pool (a cluster's: every node's)."""
        if self.cluster:
            close_cluster_client(self._r)
        else:
            self._r.close()


def close_cluster_client(client: Any) -> None:
    """Close a RedisCluster client and its nodes' pools: ``RedisCluster.close`` leaves the
    node clients' sockets open (their pools are not theirs to close) until collected."""
    for node in client.get_nodes():
        if node.redis_connection is not None:
            node.redis_connection.connection_pool.disconnect()
    client.close()


def _wait_params(url: str) -> tuple[str, int, int]:
    """``url`` without our query parameters, and their values (see ``RedisStore``)."""
    base, sep, query = url.partition("?")
    kept: list[str] = []
    replicas, timeout_ms = 0, 1000
    for part in query.split("&") if sep else []:
        name, _, value = part.partition("=")
        if name in ("wait_replicas", "wait_timeout_ms"):
            if not value.isdigit():
                raise ValueError(f"{name} in the store URL must be a whole number, not {value!r}")
            if name == "wait_replicas":
                replicas = int(value)
            else:
                timeout_ms = int(value)
        elif part:
            kept.append(part)
    return (base + ("?" + "&".join(kept) if kept else "")), replicas, timeout_ms


def _events(entries: Any) -> list[ChangeEvent]:
    """ChangeEvents of stream entries ``[(id, {b"e": json})]``, seq from the id."""
    out: list[ChangeEvent] = []
    for entry_id, fields in entries:
        seq = int(bytes(entry_id).split(b"-", 1)[0])
        out.append(msgspec.structs.replace(rec.decode_event(fields[b"e"]), seq=seq))
    return out
