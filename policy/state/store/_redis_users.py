"""Web logins, sessions and login failures on Redis (clause 5.1).

Key layout (each record one key, so no cross-slot transaction is ever needed):

- ``cp:user:{<login>}``: the User JSON (the tag is the login: an update WATCHes one key);
- ``cp:{<account>}:users``: set of the account's login names (in the account's slot), and
  ``cp:operator-users`` the operators'; the name is added before the doc is created (SET
  NX), so a crash in between leaves a name without a doc, which ``list_users`` skips;
- ``cp:session:{<hash>}``: the WebSession JSON, with a Redis TTL until its ``expires_at``
  (Redis forgets it; no sweeper);
- ``cp:user:{<login>}:sessions``: set of the login's session hashes, so disabling a login
  or setting its password ends them all; members whose session expired are pruned as
  sessions are added;
- ``cp:loginfail:{<key>}``: sorted set of failure times (score) of ``user:<login>`` or
  ``addr:<ip>``, trimmed to the window and expiring with it.
"""

from __future__ import annotations

import math
import uuid
from typing import cast

import redis

from policy.state.users import User, WebSession

from . import _users as us
from ._unavailable import redis_unavailable, unavailable_on
from .base import StoreError, UserChange, UserExists, UserNotFound

__all__ = ["RedisUsers"]

_OPERATOR_USERS = "cp:operator-users"
#: Attempts of an update whose WATCHed key another writer changed meanwhile.
_MAX_RETRIES = 100


def _user(login: str) -> str:
    return f"cp:user:{{{login}}}"


def _sessions_of(login: str) -> str:
    return f"cp:user:{{{login}}}:sessions"


def _session(token_hash: str) -> str:
    return f"cp:session:{{{token_hash}}}"


def _failures(key: str) -> str:
    return f"cp:loginfail:{{{key}}}"


def _index(account: str | None) -> str:
    return _OPERATOR_USERS if account is None else f"cp:{{{account}}}:users"


def _ms(seconds: float) -> int:
    """A positive time to live in milliseconds (Redis refuses 0 and negative ones)."""
    return max(1, math.ceil(seconds * 1000))


@unavailable_on(redis_unavailable)
class RedisUsers:
    """The web-login methods of RedisStore (a mixin on its client ``_r``)."""

    _r: redis.Redis

    # -- users --------------------------------------------------------------------------

    def create_user(self, user: User) -> User:
        """Insert a web login; UserExists if the login name is taken."""
        new = us.validate_user(user)
        self._r.sadd(_index(new.account), new.login)
        if not self._r.set(_user(new.login), us.encode(new), nx=True):
            raise UserExists(new.login)
        return new

    def get_user(self, login: str) -> User | None:
        """The login, or None."""
        raw = cast(bytes | None, self._r.get(_user(login)))
        return None if raw is None else us.decode_user(raw)

    def list_users(self, account: str | None) -> list[User]:
        """The logins of ``account`` (None: the operators'), by name."""
        names = sorted(m.decode() for m in cast(set[bytes], self._r.smembers(_index(account))))
        users = [self.get_user(n) for n in names]
        return [u for u in users if u is not None and u.account == account]

    def update_user(self, login: str, change: UserChange) -> User:
        """Apply ``change`` under WATCH of the login's key, retrying if another writer won."""
        key = _user(login)
        with self._r.pipeline(transaction=True) as pipe:
            for _ in range(_MAX_RETRIES):
                try:
                    pipe.watch(key)  # type: ignore[no-untyped-call]  # untyped in redis-py
                    raw = cast(bytes | None, pipe.get(key))
                    if raw is None:
                        raise UserNotFound(login)
                    new = us.changed_user(us.decode_user(raw), change)
                    pipe.multi()
                    pipe.set(key, us.encode(new))
                    pipe.execute()
                    return new
                except redis.WatchError:
                    continue
                finally:
                    pipe.reset()
        raise StoreError(f"gave up after {_MAX_RETRIES} concurrent updates of login {login!r}")

    # -- sessions -----------------------------------------------------------------------

    def put_session(self, token_hash: str, session: WebSession, now: float) -> None:
        """Store or refresh a session with a TTL until its ``expires_at``."""
        if session.expires_at <= now:
            return  # expired already: nothing to keep
        index = _sessions_of(session.login)
        members = [m.decode() for m in cast(set[bytes], self._r.smembers(index))]
        with self._r.pipeline(transaction=False) as pipe:
            for h in members:
                pipe.exists(_session(h))
            alive = pipe.execute() if members else []
        dead = [h for h, n in zip(members, alive, strict=True) if not n and h != token_hash]
        # The session first, then its index entry: a crash in between leaves a session
        # that delete_sessions_of does not find, but it still expires by its TTL.
        self._r.set(_session(token_hash), us.encode(session), px=_ms(session.expires_at - now))
        self._r.sadd(index, token_hash)
        if dead:
            self._r.srem(index, *dead)
        # The index lives as long as its longest session: set a TTL if it has none, else
        # only lengthen it (a refresh of an older session must not cut a newer one's).
        ttl = _ms(session.absolute_at - now)
        self._r.pexpire(index, ttl, nx=True)
        self._r.pexpire(index, ttl, gt=True)

    def get_session(self, token_hash: str, now: float) -> WebSession | None:
        """The session, or None when unknown or expired at ``now``."""
        raw = cast(bytes | None, self._r.get(_session(token_hash)))
        if raw is None:
            return None
        session = us.decode_session(raw)
        return session if session.expires_at > now else None

    def delete_session(self, token_hash: str) -> None:
        """End one session (its index entry goes when the login's next session is added)."""
        self._r.delete(_session(token_hash))

    def delete_sessions_of(self, login: str) -> int:
        """End every session of ``login``; how many there were."""
        index = _sessions_of(login)
        hashes = [m.decode() for m in cast(set[bytes], self._r.smembers(index))]
        ended = sum(int(self._r.delete(_session(h))) for h in hashes)
        self._r.delete(index)
        return ended

    # -- login failures -----------------------------------------------------------------

    def note_login_failure(self, key: str, now: float, window_s: float) -> int:
        """Record a failure; the count of ``key``'s failures in the window, this one too."""
        zkey = _failures(key)
        with self._r.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(zkey, "-inf", now - window_s)
            pipe.zadd(zkey, {f"{now!r}:{uuid.uuid4().hex}": now})
            pipe.zcount(zkey, f"({now - window_s}", "+inf")
            pipe.pexpire(zkey, _ms(window_s))
            replies = pipe.execute()
        return int(replies[2])

    def login_failures(self, key: str, now: float, window_s: float) -> list[float]:
        """The times of ``key``'s failures in the last ``window_s`` seconds, oldest first."""
        rows = self._r.zrangebyscore(_failures(key), f"({now - window_s}", now, withscores=True)
        return [float(score) for _, score in cast(list[tuple[bytes, float]], rows)]

    def clear_login_failures(self, key: str) -> None:
        """Forget ``key``'s failures."""
        self._r.delete(_failures(key))
