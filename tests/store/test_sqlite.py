"""SQLite-only behaviour: pragmas, schema versioning, connections per thread."""

from __future__ import annotations

import gc
import sqlite3
import threading
from pathlib import Path

import pytest

from policy.state.accounts import Account, BlockTarget
from policy.state.store import SqliteStore, StoreError
from policy.state.store.sqlite import SCHEMA_VERSION


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """Path of a fresh database file."""
    return tmp_path / "state.db"


def _pragmas(store: SqliteStore) -> tuple[str, int]:
    conn = store._conn()
    journal = conn.execute("PRAGMA journal_mode").fetchone()[0]
    return journal, conn.execute("PRAGMA synchronous").fetchone()[0]


def test_wal_and_full_sync_on_every_threads_connection(db: Path) -> None:
    store = SqliteStore(str(db))
    try:
        seen: list[tuple[str, int]] = []
        worker = threading.Thread(target=lambda: seen.append(_pragmas(store)))
        worker.start()
        worker.join()
        assert seen == [_pragmas(store)] == [("wal", 2)]  # 2 = FULL
    finally:
        store.close()


def test_each_thread_has_its_own_connection(db: Path) -> None:
    store = SqliteStore(str(db))
    try:
        conns: list[sqlite3.Connection] = []
        worker = threading.Thread(target=lambda: conns.append(store._conn()))
        worker.start()
        worker.join()
        assert conns[0] is not store._conn()
        assert store._conn() is store._conn()
    finally:
        store.close()


def test_schema_is_created_once_and_versioned(db: Path) -> None:
    SqliteStore(str(db)).close()
    store = SqliteStore(str(db))  # reopening must not recreate or fail
    store.close()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    assert {"accounts", "charges", "idempotency", "changes", "api_keys", "schema_version"} <= tables


def test_a_newer_schema_is_refused(db: Path) -> None:
    SqliteStore(str(db)).close()
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE schema_version SET version = ?", (SCHEMA_VERSION + 1,))
    conn.close()
    with pytest.raises(StoreError, match="is newer than this code supports"):
        SqliteStore(str(db))


def test_the_ledger_is_append_only(db: Path) -> None:
    store = SqliteStore(str(db))
    try:
        store.create_account(Account(id="acme", npn="4930123456"), now=0.0)
        store.unblock("acme", BlockTarget("operator", "x"), 100, "r", "k", "h", lambda a: a, 1.0)
        conn = store._conn()
        for statement in ("UPDATE charges SET doc = x''", "DELETE FROM charges"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                conn.execute(statement)
        assert len(store.charges("acme")) == 1
    finally:
        store.close()


def test_in_memory_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="needs a file path"):
        SqliteStore(":memory:")


def test_a_closed_store_refuses_calls(db: Path) -> None:
    store = SqliteStore(str(db))
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.list_accounts()


def test_a_finished_threads_connection_is_closed(db: Path) -> None:
    store = SqliteStore(str(db))
    try:
        for _ in range(5):
            worker = threading.Thread(target=store.list_accounts)
            worker.start()
            worker.join()
        gc.collect()
        assert len(store._conns) == 1  # only this thread's
    finally:
        store.close()
