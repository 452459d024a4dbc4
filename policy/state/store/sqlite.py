"""The embedded store: one SQLite file, WAL, full sync; no set-up needed.

Durability: ``journal_mode=WAL`` with ``synchronous=FULL`` fsyncs the WAL on every
commit, so a call that returned (an acknowledged charge) survives SIGKILL and power loss.
Every mutation is one ``BEGIN IMMEDIATE`` … ``COMMIT`` transaction together with its row
in ``changes``: there is no state change without its event and no charge without its
state change.

Concurrency: one connection per thread (``threading.local``). WAL lets readers (the edge
and API reads, ``wait_changes`` polls) run beside a writer instead of queueing behind its
fsync, as they would behind a lock around one shared connection. Writers serialize on
SQLite's own write lock: ``BEGIN IMMEDIATE`` takes it before the read, so a
read-change-write is never interleaved with another writer (no lost updates, and no retry
loop is needed) and ``changes.seq`` is assigned in commit order (a follower reading
``seq > n`` never misses an event that commits later with a lower seq). Writers queue
first on a lock of their own (a ``threading.Lock`` in the process, an ``flock`` on
``<file>.writelock`` across processes) and only then take SQLite's lock: SQLite's busy
handler backs off with sleeps of up to 100 ms, which under contention gave unblocks a p99
near a second; a queue hands the lock over at once. Several processes may open the same
file. A thread's connection is closed when the thread ends (worker pools such as anyio's retire idle
threads) or at ``close()``, whichever comes first.

``changes`` and ``charges`` grow without pruning: the ledger is kept by law (clause 9.5),
and the change feed is small (one row per change).
"""

from __future__ import annotations

import contextlib
import fcntl
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, cast

import msgspec

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
from ._sqlite_users import MIGRATION as USERS_MIGRATION
from ._sqlite_users import SqliteUsers
from ._unavailable import sqlite_unavailable, unavailable_on
from .base import (
    AccountExists,
    AccountNotFound,
    EffectChange,
    KeyNotFound,
    StoreError,
    StoreUnavailable,
)

__all__ = ["SCHEMA_VERSION", "SqliteStore"]

#: Seconds a writer waits for another writer's lock before SQLite raises "locked".
BUSY_TIMEOUT = 30.0
#: Poll interval of ``wait_changes`` (a change must reach a subscriber within 100 ms).
POLL_INTERVAL = 0.005

# Migrations in order; migration i brings the schema from version i to i + 1. Add new
# ones at the end, never edit a shipped one (a file opened by new code is migrated).
_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE accounts (
        id TEXT PRIMARY KEY,
        version INTEGER NOT NULL,
        doc BLOB NOT NULL
    );
    CREATE TABLE charges (
        n INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        account TEXT NOT NULL,
        idempotency_key TEXT NOT NULL,
        doc BLOB NOT NULL,
        UNIQUE (account, idempotency_key)
    );
    CREATE TRIGGER charges_no_update BEFORE UPDATE ON charges
        BEGIN SELECT RAISE(ABORT, 'charges are append-only'); END;
    CREATE TRIGGER charges_no_delete BEFORE DELETE ON charges
        BEGIN SELECT RAISE(ABORT, 'charges are append-only'); END;
    CREATE TABLE idempotency (
        account TEXT NOT NULL,
        key TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        outcome BLOB NOT NULL,
        PRIMARY KEY (account, key)
    );
    CREATE TABLE changes (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL,
        kind TEXT NOT NULL,
        version INTEGER NOT NULL,
        at REAL NOT NULL
    );
    CREATE TABLE api_keys (
        hash TEXT PRIMARY KEY,
        principal BLOB NOT NULL
    );
    """,
    # 2: the audit trail of numbers, NPN and suspension (issue 10), and what a change did.
    """
    ALTER TABLE changes ADD COLUMN detail TEXT NOT NULL DEFAULT '';
    CREATE TABLE audit (
        n INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL,
        doc BLOB NOT NULL
    );
    CREATE INDEX audit_by_account ON audit (account, n);
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
    """,
    # 3: API keys listed, revoked and rotated, with their last use (issue 11).
    """
    ALTER TABLE api_keys ADD COLUMN key_id TEXT;
    ALTER TABLE api_keys ADD COLUMN created_at REAL NOT NULL DEFAULT 0;
    ALTER TABLE api_keys ADD COLUMN revoked_at REAL;
    ALTER TABLE api_keys ADD COLUMN last_used_at REAL;
    UPDATE api_keys SET key_id = json_extract(CAST(principal AS TEXT), '$.key_id');
    CREATE INDEX api_keys_by_id ON api_keys (key_id);
    """,
    # 4: what each API and edge node serves (issue 12).
    """
    CREATE TABLE nodes (
        node TEXT PRIMARY KEY,
        doc BLOB NOT NULL
    );
    """,
    # 5: web logins, their sessions and failed logins (clause 5.1: the Telefonie-Konto).
    USERS_MIGRATION,
)
#: The schema version this code writes.
SCHEMA_VERSION = len(_MIGRATIONS)

_Kind = Literal["account", "rules"]


@unavailable_on(sqlite_unavailable)
class SqliteStore(Derived, SqliteUsers):
    """The Store on one SQLite file (see the module docstring for the trade-offs)."""

    #: ``wait_changes`` polls the file (SQLite has no notification across processes).
    notifies = False

    def __init__(self, path: str) -> None:
        """Open (creating if needed) the database file at ``path`` and migrate its schema."""
        if path == ":memory:" or path.startswith("file::memory:"):
            # Each thread has its own connection, so each would see its own empty database.
            raise ValueError("SqliteStore needs a file path, not an in-memory database")
        self._path = path
        self._local = threading.local()
        # Weak: the thread-local reference is the owning one, so a finished thread's
        # connection is collected (and closed) instead of piling up here.
        self._conns: weakref.WeakSet[_Connection] = weakref.WeakSet()
        self._conns_lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._closed = False
        conn = self._conn()
        # Persistent in the file; must run outside a transaction.
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise StoreError(f"{path}: cannot switch to WAL journal mode (got {mode!r})")
        self._migrate(conn)

    # -- connections and transactions -------------------------------------------------

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            self._close_own()  # a thread closes its own connection (see close())
            raise StoreError("store is closed")
        conn: _Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            # isolation_level=None: no implicit transactions; we issue BEGIN/COMMIT.
            # check_same_thread=False: a connection may be closed by the garbage collector
            # on another thread (_Connection.__del__).
            try:
                conn = sqlite3.connect(
                    self._path,
                    timeout=BUSY_TIMEOUT,
                    isolation_level=None,
                    check_same_thread=False,
                    factory=_Connection,
                )
            except sqlite3.Error as exc:
                raise StoreUnavailable(f"{self._path}: cannot open the database: {exc}") from None
            conn.execute("PRAGMA synchronous=FULL")
            self._local.conn = conn
            with self._conns_lock:
                self._conns.add(conn)
        return conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: the write lock is taken before the first read."""
        conn = self._conn()
        with self._write_lock, open(self._path + ".writelock", "a") as lockfile:
            fcntl.flock(lockfile, fcntl.LOCK_EX)  # released when the file closes
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    def _migrate(self, conn: sqlite3.Connection) -> None:
        with self._write():
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT version FROM schema_version").fetchone()
            current = 0 if row is None else int(row[0])
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"{self._path}: schema version {current} is newer than this code "
                    f"supports ({SCHEMA_VERSION})"
                )
            for script in _MIGRATIONS[current:]:
                # executescript() would COMMIT first; run the statements one by one so
                # the migration stays inside this transaction.
                for statement in _split_sql(script):
                    conn.execute(statement)
            if row is None:
                conn.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            elif current != SCHEMA_VERSION:
                conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION,))

    @staticmethod
    def _emit(
        conn: sqlite3.Connection,
        account: str,
        kind: _Kind,
        version: int,
        now: float,
        detail: str = "",
    ) -> int:
        cur = conn.execute(
            "INSERT INTO changes (account, kind, version, at, detail) VALUES (?, ?, ?, ?, ?)",
            (account, kind, version, now, detail),
        )
        return cast(int, cur.lastrowid)

    @staticmethod
    def _load(conn: sqlite3.Connection, account_id: str) -> Account:
        row = conn.execute("SELECT doc FROM accounts WHERE id = ?", (account_id,)).fetchone()
        if row is None:
            raise AccountNotFound(account_id)
        return rec.decode_account(row[0])

    @staticmethod
    def _save(conn: sqlite3.Connection, account: Account) -> None:
        conn.execute(
            "UPDATE accounts SET version = ?, doc = ? WHERE id = ?",
            (account.version, rec.encode(account), account.id),
        )

    # -- accounts -----------------------------------------------------------------------

    def create_account(self, account: Account, now: float) -> Account:
        """Insert a new account (version 1); AccountExists if the id is taken."""
        new = rec.validate_new(msgspec.structs.replace(account, version=1))
        with self._write() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO accounts (id, version, doc) VALUES (?, ?, ?)",
                (new.id, new.version, rec.encode(new)),
            )
            if cur.rowcount == 0:
                raise AccountExists(new.id)
            self._emit(conn, new.id, "account", new.version, now)
        return new

    def get_account(self, account_id: str) -> Account | None:
        """The account, or None."""
        row = (
            self._conn().execute("SELECT doc FROM accounts WHERE id = ?", (account_id,)).fetchone()
        )
        return None if row is None else rec.decode_account(row[0])

    def list_accounts(self) -> list[str]:
        """All account ids, sorted."""
        rows = self._conn().execute("SELECT id FROM accounts ORDER BY id").fetchall()
        return [str(r[0]) for r in rows]

    def apply(
        self,
        account_id: str,
        change: EffectChange,
        now: float,
        charge: ChargeRequest | None = None,
    ) -> Applied:
        """Account, audit lines, charge, idempotency record and event in one transaction."""
        if charge is not None:
            rec.check_fee(charge.fee_cents)
        with self._write() as conn:
            if charge is not None:
                row = conn.execute(
                    "SELECT request_hash, outcome FROM idempotency WHERE account = ? AND key = ?",
                    (account_id, charge.idempotency_key),
                ).fetchone()
                if row is not None:
                    return rec.replayed(
                        row[0], row[1], charge.request_hash, account_id, charge.idempotency_key
                    )
            outcome, detail = rec.new_outcome(self._load(conn, account_id), change, charge, now)
            new = outcome.account
            self._save(conn, new)
            conn.executemany(
                "INSERT INTO audit (account, doc) VALUES (?, ?)",
                [(account_id, rec.encode(line)) for line in outcome.audit],
            )
            if outcome.charge is not None:
                conn.execute(
                    "INSERT INTO charges (id, account, idempotency_key, doc) VALUES (?, ?, ?, ?)",
                    (
                        outcome.charge.id,
                        account_id,
                        outcome.charge.idempotency_key,
                        rec.encode(outcome.charge),
                    ),
                )
            if charge is not None:
                conn.execute(
                    "INSERT INTO idempotency (account, key, request_hash, outcome) "
                    "VALUES (?, ?, ?, ?)",
                    (account_id, charge.idempotency_key, charge.request_hash, rec.encode(outcome)),
                )
            self._emit(conn, new.id, "account", new.version, now, detail)
        return outcome

    def audit(self, account_id: str) -> list[AuditEntry]:
        """The account's audit trail, oldest first."""
        rows = (
            self._conn()
            .execute("SELECT doc FROM audit WHERE account = ? ORDER BY n", (account_id,))
            .fetchall()
        )
        return [rec.decode_audit(r[0]) for r in rows]

    def charges_page(self, account_id: str, after: int, limit: int) -> list[tuple[int, Charge]]:
        """Up to ``limit`` charges after position ``after``, each with its position."""
        rows = (
            self._conn()
            .execute(
                "SELECT doc FROM charges WHERE account = ? ORDER BY n LIMIT ? OFFSET ?",
                (account_id, max(0, limit), max(0, after)),
            )
            .fetchall()
        )
        return [(after + i + 1, rec.decode_charge(r[0])) for i, r in enumerate(rows)]

    def charges(self, account_id: str) -> list[Charge]:
        """The account's ledger, oldest first."""
        rows = (
            self._conn()
            .execute("SELECT doc FROM charges WHERE account = ? ORDER BY n", (account_id,))
            .fetchall()
        )
        return [rec.decode_charge(r[0]) for r in rows]

    # -- api keys -----------------------------------------------------------------------

    def put_api_key(self, key_hash: str, principal: Principal, now: float = 0.0) -> None:
        """Store an API key by its hash (replacing an earlier principal of that hash)."""
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO api_keys (hash, principal, key_id, created_at) "
                "VALUES (?, ?, ?, ?)",
                (key_hash, rec.encode(principal), principal.key_id, now),
            )

    def get_api_key(self, key_hash: str) -> Principal | None:
        """The principal of a key hash, or None (unknown or revoked)."""
        row = (
            self._conn()
            .execute(
                "SELECT principal FROM api_keys WHERE hash = ? AND revoked_at IS NULL",
                (key_hash,),
            )
            .fetchone()
        )
        return None if row is None else rec.decode_principal(row[0])

    _KEY_INFO = "SELECT principal, created_at, revoked_at, last_used_at FROM api_keys"

    def list_api_keys(self, account: str | None = None) -> list[KeyInfo]:
        """Every key (of ``account`` if given), revoked ones included, by creation."""
        rows = self._conn().execute(self._KEY_INFO + " ORDER BY created_at, key_id").fetchall()
        infos = [rec.key_info(*row) for row in rows]
        return [k for k in infos if account is None or k.account == account]

    def revoke_api_key(self, key_id: str, now: float) -> KeyInfo:
        """Revoke the key ``key_id``; revoking twice keeps the first time."""
        with self._write() as conn:
            cur = conn.execute(
                "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE key_id = ?",
                (now, key_id),
            )
            if cur.rowcount == 0:
                raise KeyNotFound(key_id)
            row = conn.execute(self._KEY_INFO + " WHERE key_id = ?", (key_id,)).fetchone()
        return rec.key_info(*row)

    def touch_api_key(self, key_hash: str, now: float) -> None:
        """Record the key's last use (no fsync needed: a lost touch costs nothing)."""
        with self._write() as conn:
            conn.execute("UPDATE api_keys SET last_used_at = ? WHERE hash = ?", (now, key_hash))

    # -- nodes --------------------------------------------------------------------------

    def report_node(self, status: NodeStatusV1) -> None:
        """Record what a node serves (replacing its previous report)."""
        with self._write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO nodes (node, doc) VALUES (?, ?)",
                (status.node, rec.encode(status)),
            )

    def nodes(self) -> list[NodeStatusV1]:
        """Every node's last report, by name."""
        rows = self._conn().execute("SELECT doc FROM nodes ORDER BY node").fetchall()
        return [rec.decode_node(r[0]) for r in rows]

    # -- change feed --------------------------------------------------------------------

    def publish_rules_change(self, now: float) -> ChangeEvent:
        """Emit a ``rules`` event (after a reload)."""
        with self._write() as conn:
            seq = self._emit(conn, "", "rules", 0, now)
        return ChangeEvent(seq=seq, account="", kind="rules", version=0, at=now)

    def changes_since(self, seq: int, limit: int = 1000) -> list[ChangeEvent]:
        """Events with ``seq`` greater than the given one, oldest first."""
        rows = (
            self._conn()
            .execute(
                "SELECT seq, account, kind, version, at, detail FROM changes "
                "WHERE seq > ? ORDER BY seq LIMIT ?",
                (seq, limit),
            )
            .fetchall()
        )
        return [
            ChangeEvent(seq=s, account=a, kind=cast(_Kind, k), version=v, at=t, detail=d)
            for s, a, k, v, t, d in rows
        ]

    def wait_changes(self, seq: int, timeout: float) -> list[ChangeEvent]:
        """Poll ``changes_since`` every few ms until there is an event or ``timeout``."""
        # SQLite has no notification across connections or processes; a 5 ms poll of an
        # indexed range query is cheap and keeps latency far below the 100 ms budget.
        deadline = time.monotonic() + timeout
        while True:
            events = self.changes_since(seq)
            remaining = deadline - time.monotonic()
            if events or remaining <= 0:
                return events
            time.sleep(min(POLL_INTERVAL, remaining))

    def last_seq(self) -> int:
        """The newest event's seq (0 if none)."""
        row = self._conn().execute("SELECT max(seq) FROM changes").fetchone()
        return 0 if row[0] is None else int(row[0])

    def close(self) -> None:
        """Close the store: it cannot be used afterwards. This thread's connection closes
        now; every other thread's when that thread next asks for it, or when it ends.

        Not all at once from here: closing a connection while another thread runs a
        statement on it frees the database under that statement (sqlite3 allows the call
        with ``check_same_thread=False``, and a change follower reading then crashed the
        process)."""
        self._closed = True
        self._close_own()

    def _close_own(self) -> None:
        conn: _Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            return
        self._local.conn = None
        with self._conns_lock:
            self._conns.discard(conn)
        conn.close()


class _Connection(sqlite3.Connection):
    """A connection that can be weakly referenced and closes itself when collected."""

    def __del__(self) -> None:
        # A connection whose __init__ failed is half-built; closing it must not raise.
        with contextlib.suppress(sqlite3.Error, AttributeError):
            self.close()


def _split_sql(script: str) -> list[str]:
    """Split a migration script into statements (``sqlite3.complete_statement`` aware)."""
    statements: list[str] = []
    buf = ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            statements.append(buf.strip())
            buf = ""
    if buf.strip():
        statements.append(buf.strip())
    return statements
