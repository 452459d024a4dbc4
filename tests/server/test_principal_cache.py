"""The per-process cache of key lookups (server/auth.py PrincipalCache)."""

from __future__ import annotations

from policy.state.accounts import Principal
from policy.state.store import SqliteStore
from server.auth import PrincipalCache, hash_key

OPERATOR = Principal(key_id="key_1", role="operator")


class CountingStore:
    """Counts get_api_key reads of a real store."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.reads = 0

        self.touches: list[float] = []

    def get_api_key(self, key_hash: str) -> Principal | None:
        self.reads += 1
        return self.store.get_api_key(key_hash)

    def touch_api_key(self, key_hash: str, now: float) -> None:
        self.touches.append(now)
        self.store.touch_api_key(key_hash, now)


def test_hits_skip_the_store_until_the_ttl_passes(store: SqliteStore) -> None:
    store.put_api_key(hash_key("k"), OPERATOR)
    counting = CountingStore(store)
    now = [100.0]
    cache = PrincipalCache(counting, lambda: now[0], ttl=30)  # type: ignore[arg-type]
    assert cache.get(hash_key("k")) == OPERATOR
    assert cache.get(hash_key("k")) == OPERATOR
    assert counting.reads == 1
    now[0] = 130.0
    assert cache.get(hash_key("k")) == OPERATOR
    assert counting.reads == 2


def test_unknown_keys_are_never_cached(store: SqliteStore) -> None:
    counting = CountingStore(store)
    cache = PrincipalCache(counting, lambda: 0.0, ttl=30)  # type: ignore[arg-type]
    assert cache.get(hash_key("later")) is None
    store.put_api_key(hash_key("later"), OPERATOR)  # created afterwards: works at once
    assert cache.get(hash_key("later")) == OPERATOR


def test_ttl_zero_disables_and_size_is_bounded(store: SqliteStore) -> None:
    for i in range(5):
        store.put_api_key(hash_key(f"k{i}"), OPERATOR)
    counting = CountingStore(store)
    off = PrincipalCache(counting, lambda: 0.0, ttl=0)  # type: ignore[arg-type]
    off.get(hash_key("k0"))
    off.get(hash_key("k0"))
    assert counting.reads == 2
    bounded = PrincipalCache(counting, lambda: 0.0, ttl=30, size=2)  # type: ignore[arg-type]
    for i in range(5):
        bounded.get(hash_key(f"k{i}"))
    assert len(bounded._entries) == 2
    assert set(bounded._entries) == {hash_key("k3"), hash_key("k4")}


def test_last_use_is_written_at_most_once_a_minute(store: SqliteStore) -> None:
    store.put_api_key(hash_key("k"), OPERATOR)
    counting = CountingStore(store)
    now = [100.0]
    cache = PrincipalCache(counting, lambda: now[0], ttl=0)  # type: ignore[arg-type]
    for t in (100.0, 110.0, 159.0, 160.0, 161.0):
        now[0] = t
        assert cache.get(hash_key("k")) == OPERATOR
    assert counting.touches == [100.0, 160.0]
    assert store.list_api_keys()[0].last_used_at == 160.0


def test_forget_drops_a_revoked_key_at_once(store: SqliteStore) -> None:
    store.put_api_key(hash_key("k"), OPERATOR)
    cache = PrincipalCache(store, lambda: 0.0, ttl=3600)
    assert cache.get(hash_key("k")) == OPERATOR
    store.revoke_api_key("key_1", 1.0)
    assert cache.get(hash_key("k")) == OPERATOR  # cached: other processes wait out the ttl
    cache.forget("key_1")
    assert cache.get(hash_key("k")) is None
