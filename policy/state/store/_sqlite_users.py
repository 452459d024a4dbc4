"""Web logins, sessions and login failures on SQLite (clause 5.1; tables of migration 5).

Sessions and failures are written through the store's write transaction like everything
else (fsync included): a login is rare next to calls, and one code path is simpler than
a second, unsynchronised one. Expired sessions and old failures are deleted as new ones
are written, so the tables stay small without a sweeper.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager

from policy.state.users import User, WebSession

from . import _users as us
from ._unavailable import sqlite_unavailable, unavailable_on
from .base import UserChange, UserExists, UserNotFound

__all__ = ["MIGRATION", "SqliteUsers"]

MIGRATION = """
CREATE TABLE users (
    login TEXT PRIMARY KEY,
    account TEXT,
    doc BLOB NOT NULL
);
CREATE INDEX users_by_account ON users (account, login);
CREATE TABLE web_sessions (
    hash TEXT PRIMARY KEY,
    login TEXT NOT NULL,
    expires_at REAL NOT NULL,
    doc BLOB NOT NULL
);
CREATE INDEX web_sessions_by_login ON web_sessions (login);
CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at);
CREATE TABLE login_failures (
    key TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE INDEX login_failures_by_key ON login_failures (key, at);
CREATE INDEX login_failures_by_time ON login_failures (at);
"""
"""Migration 5 of ``sqlite.py``: web logins (clause 5.1)."""


@unavailable_on(sqlite_unavailable)
class SqliteUsers:
    """The web-login methods of SqliteStore (a mixin on its connection and write lock)."""

    def _conn(self) -> sqlite3.Connection:
        raise NotImplementedError  # pragma: no cover  (SqliteStore's)

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError  # pragma: no cover  (SqliteStore's)

    # -- users --------------------------------------------------------------------------

    def create_user(self, user: User) -> User:
        """Insert a web login; UserExists if the login name is taken."""
        new = us.validate_user(user)
        with self._write() as conn:
            cur = conn.execute(
                "INSERT OR IGNORE INTO users (login, account, doc) VALUES (?, ?, ?)",
                (new.login, new.account, us.encode(new)),
            )
            if cur.rowcount == 0:
                raise UserExists(new.login)
        return new

    def get_user(self, login: str) -> User | None:
        """The login, or None."""
        row = self._conn().execute("SELECT doc FROM users WHERE login = ?", (login,)).fetchone()
        return None if row is None else us.decode_user(row[0])

    def list_users(self, account: str | None) -> list[User]:
        """The logins of ``account`` (None: the operators'), by name."""
        rows = (
            self._conn()
            .execute("SELECT doc FROM users WHERE account IS ? ORDER BY login", (account,))
            .fetchall()
        )
        return [us.decode_user(r[0]) for r in rows]

    def update_user(self, login: str, change: UserChange) -> User:
        """Apply ``change`` in one write transaction (UserNotFound if no such login)."""
        with self._write() as conn:
            row = conn.execute("SELECT doc FROM users WHERE login = ?", (login,)).fetchone()
            if row is None:
                raise UserNotFound(login)
            new = us.changed_user(us.decode_user(row[0]), change)
            conn.execute("UPDATE users SET doc = ? WHERE login = ?", (us.encode(new), login))
        return new

    # -- sessions -----------------------------------------------------------------------

    def put_session(self, token_hash: str, session: WebSession, now: float) -> None:
        """Store or refresh a session; expired ones of every login are deleted meanwhile."""
        with self._write() as conn:
            conn.execute("DELETE FROM web_sessions WHERE expires_at <= ?", (now,))
            conn.execute(
                "INSERT OR REPLACE INTO web_sessions (hash, login, expires_at, doc) "
                "VALUES (?, ?, ?, ?)",
                (token_hash, session.login, session.expires_at, us.encode(session)),
            )

    def get_session(self, token_hash: str, now: float) -> WebSession | None:
        """The session, or None when unknown or expired at ``now``."""
        row = (
            self._conn()
            .execute(
                "SELECT doc FROM web_sessions WHERE hash = ? AND expires_at > ?",
                (token_hash, now),
            )
            .fetchone()
        )
        return None if row is None else us.decode_session(row[0])

    def delete_session(self, token_hash: str) -> None:
        """End one session."""
        with self._write() as conn:
            conn.execute("DELETE FROM web_sessions WHERE hash = ?", (token_hash,))

    def delete_sessions_of(self, login: str) -> int:
        """End every session of ``login``; how many there were."""
        with self._write() as conn:
            cur = conn.execute("DELETE FROM web_sessions WHERE login = ?", (login,))
        return cur.rowcount

    # -- login failures -----------------------------------------------------------------

    def note_login_failure(self, key: str, now: float, window_s: float) -> int:
        """Record a failure; the count of ``key``'s failures in the window, this one too."""
        with self._write() as conn:
            conn.execute("DELETE FROM login_failures WHERE at <= ?", (now - window_s,))
            conn.execute("INSERT INTO login_failures (key, at) VALUES (?, ?)", (key, now))
            row = conn.execute(
                "SELECT count(*) FROM login_failures WHERE key = ? AND at > ?",
                (key, now - window_s),
            ).fetchone()
        return int(row[0])

    def login_failures(self, key: str, now: float, window_s: float) -> list[float]:
        """The times of ``key``'s failures in the last ``window_s`` seconds, oldest first."""
        rows = (
            self._conn()
            .execute(
                "SELECT at FROM login_failures WHERE key = ? AND at > ? AND at <= ? ORDER BY at",
                (key, now - window_s, now),
            )
            .fetchall()
        )
        return [float(r[0]) for r in rows]

    def clear_login_failures(self, key: str) -> None:
        """Forget ``key``'s failures."""
        with self._write() as conn:
            conn.execute("DELETE FROM login_failures WHERE key = ?", (key,))
