"""The Store contract for web logins (clause 5.1), on SQLite, Redis and a Redis Cluster:
users, sessions stored by token hash with their expiry, and login-failure counters."""

from __future__ import annotations

import msgspec
import pytest
from argon2 import PasswordHasher

from policy import User, WebSession, new_user
from policy.state.store import Store, StoreError, UserExists, UserNotFound

from .conftest import Backend

#: Cheap argon2id parameters: the contract is about storage, not hashing cost.
FAST = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
NOW = 1_000_000.0


def user(login: str = "anna", account: str | None = "acme", role: str = "admin") -> User:
    """A valid login with a cheap hash."""
    return new_user(login, role, account, "a long password", NOW, "test", FAST)  # type: ignore[arg-type]


def session(
    login: str = "anna", expires: float = NOW + 60, absolute: float = NOW + 600
) -> WebSession:
    """A session of ``login`` expiring at ``expires``."""
    return WebSession(
        login=login,
        account="acme",
        role="admin",
        csrf="c" * 43,
        created_at=NOW,
        expires_at=expires,
        absolute_at=absolute,
    )


def test_users_round_trip_and_names_are_unique(store: Store) -> None:
    created = store.create_user(user())
    assert store.get_user("anna") == created
    assert store.get_user("nobody") is None
    with pytest.raises(UserExists, match="anna"):
        store.create_user(user(account="bravo"))
    assert store.get_user("anna") == created


def test_a_malformed_login_is_not_stored(store: Store) -> None:
    bad = msgspec.structs.replace(user(), login="Has Space")
    with pytest.raises(msgspec.ValidationError, match=r"\$\.login"):
        store.create_user(bad)
    assert store.list_users("acme") == []


def test_users_are_listed_per_account_and_operators_apart(store: Store) -> None:
    store.create_user(user("zoe"))
    store.create_user(user("anna", role="employee"))
    store.create_user(user("bert", account="bravo"))
    store.create_user(user("op", account=None, role="operator"))
    assert [u.login for u in store.list_users("acme")] == ["anna", "zoe"]
    assert [u.login for u in store.list_users("bravo")] == ["bert"]
    assert [u.login for u in store.list_users(None)] == ["op"]
    assert store.list_users("nobody") == []


def test_update_user_changes_what_it_may(store: Store) -> None:
    store.create_user(user())
    updated = store.update_user("anna", lambda u: msgspec.structs.replace(u, disabled=True))
    assert updated.disabled
    assert store.get_user("anna") == updated
    with pytest.raises(UserNotFound, match="nobody"):
        store.update_user("nobody", lambda u: u)


@pytest.mark.parametrize("field", [{"role": "employee"}, {"account": "bravo"}])
def test_update_user_may_not_move_a_login(store: Store, field: dict[str, str]) -> None:
    created = store.create_user(user())
    with pytest.raises(ValueError, match="must not alter"):
        store.update_user("anna", lambda u: msgspec.structs.replace(u, **field))
    assert store.get_user("anna") == created


def test_sessions_round_trip_and_expire(store: Store) -> None:
    store.put_session("h1", session(), NOW)
    assert store.get_session("h1", NOW + 59) == session()
    assert store.get_session("h1", NOW + 60) is None  # expires_at is exclusive
    assert store.get_session("other", NOW) is None


def test_a_refreshed_session_lives_longer(store: Store) -> None:
    store.put_session("h1", session(), NOW)
    later = session(expires=NOW + 120)
    store.put_session("h1", later, NOW + 50)
    assert store.get_session("h1", NOW + 100) == later


def test_delete_session_and_all_sessions_of_a_login(store: Store) -> None:
    for h in ("h1", "h2", "h3"):
        store.put_session(h, session(), NOW)
    store.put_session("b1", session("bert"), NOW)
    store.delete_session("h1")
    store.delete_session("unknown")  # ignored
    assert store.get_session("h1", NOW) is None
    assert store.delete_sessions_of("anna") == 2
    assert store.get_session("h2", NOW) is None
    assert store.get_session("h3", NOW) is None
    assert store.get_session("b1", NOW) == session("bert")
    assert store.delete_sessions_of("anna") == 0


def test_login_failures_count_in_the_window(store: Store) -> None:
    assert store.login_failures("user:anna", NOW, 900) == []
    assert [store.note_login_failure("user:anna", NOW + i, 900) for i in range(3)] == [1, 2, 3]
    assert store.note_login_failure("addr:10.0.0.1", NOW + 800, 900) == 1
    assert store.login_failures("user:anna", NOW + 2, 900) == [NOW, NOW + 1, NOW + 2]
    # 900 s after the first failure it has left the window.
    assert store.login_failures("user:anna", NOW + 900, 900) == [NOW + 1, NOW + 2]
    assert store.note_login_failure("user:anna", NOW + 901, 900) == 2
    store.clear_login_failures("user:anna")
    assert store.login_failures("user:anna", NOW + 901, 900) == []
    assert store.login_failures("addr:10.0.0.1", NOW + 901, 900) == [NOW + 800]


def test_two_failures_at_the_same_time_both_count(store: Store) -> None:
    assert store.note_login_failure("user:anna", NOW, 900) == 1
    assert store.note_login_failure("user:anna", NOW, 900) == 2


def test_the_sessions_survive_a_reopen(backend: Backend) -> None:
    backend.store.create_user(user())
    backend.store.put_session("h1", session(), NOW)
    again = backend.reopen()
    try:
        assert again.get_user("anna") is not None
        assert again.get_session("h1", NOW) == session()
    finally:
        again.close()


def test_user_errors_are_store_errors() -> None:
    assert issubclass(UserExists, StoreError)
    assert issubclass(UserNotFound, StoreError)
