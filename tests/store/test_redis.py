"""Redis-only behaviour: the key layout (one Cluster slot per account) and the feed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import cast

import msgspec
import pytest
import redis
from redis.crc import key_slot

from policy.state.accounts import Account, BlockTarget, Principal
from policy.state.store import RedisStore


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    """A raw client on the flushed private server."""
    c = redis.Redis.from_url(redis_url)
    try:
        yield c
    finally:
        c.close()


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisStore]:
    """A RedisStore on the flushed private server."""
    s = RedisStore(redis_url)
    try:
        yield s
    finally:
        s.close()


def _fill(store: RedisStore) -> None:
    store.create_account(Account(id="acme", npn="4930123456"), now=1.0)
    store.unblock("acme", BlockTarget("operator", "x"), 100, "r", "key:1", "h", lambda a: a, 2.0)
    store.put_api_key("abc", Principal(key_id="k", role="operator"))
    store.publish_rules_change(now=3.0)


def test_key_layout(store: RedisStore, client: redis.Redis) -> None:
    _fill(store)
    keys = {k.decode() for k in cast(list[bytes], client.keys("*"))}
    assert keys == {
        "cp:accounts",
        "cp:{acme}:doc",
        "cp:{acme}:charges",
        "cp:{acme}:idem:key:1",
        "cp:key:abc",
        "cp:keyinfo:abc",
        "cp:keys",
        "cp:{feed}",
        "cp:{feed}:seq",
    }


def test_an_accounts_keys_share_one_cluster_slot(store: RedisStore, client: redis.Redis) -> None:
    _fill(store)
    keys = cast(list[bytes], client.keys("cp:{acme}:*"))
    assert len(keys) == 3
    assert {key_slot(k) for k in keys} == {key_slot(b"acme")}
    assert key_slot(b"cp:{feed}") == key_slot(b"cp:{feed}:seq")


def test_feed_entry_ids_carry_the_seq(store: RedisStore, client: redis.Redis) -> None:
    _fill(store)
    ids = [entry_id for entry_id, _ in client.xrange("cp:{feed}") or []]
    assert ids == [b"1-1", b"2-1", b"3-1"]
    assert int(client.get("cp:{feed}:seq") or 0) == store.last_seq() == 3


def test_feed_events_with_unknown_fields_still_decode(
    store: RedisStore, client: redis.Redis
) -> None:
    doc = {"schema": 2, "seq": 0, "account": "acme", "kind": "account", "version": 4, "at": 1.5}
    doc["added_later"] = True
    client.incr("cp:{feed}:seq")
    client.xadd("cp:{feed}", {"e": msgspec.json.encode(doc)}, id="1-1")
    [event] = store.changes_since(0)
    assert (event.seq, event.schema, event.account, event.version) == (1, 2, "acme", 4)


def test_list_accounts_skips_an_index_entry_without_doc(
    store: RedisStore, client: redis.Redis
) -> None:
    store.create_account(Account(id="acme", npn="4930123456"), now=1.0)
    client.sadd("cp:accounts", "crashed-before-create")  # the documented crash window
    assert store.list_accounts() == ["acme"]
    store.create_account(Account(id="crashed-before-create", npn="4930123456"), now=2.0)
    assert store.list_accounts() == ["acme", "crashed-before-create"]


# -- WAIT for replicas before a charge is acknowledged (issue 12) ------------------------


def test_wait_parameters_are_taken_out_of_the_url() -> None:
    from policy.state.store.redis import _wait_params

    assert _wait_params("redis://h:1/0") == ("redis://h:1/0", 0, 1000)
    assert _wait_params("redis-cluster://h:1/0?wait_replicas=1&wait_timeout_ms=250") == (
        "redis-cluster://h:1/0",
        1,
        250,
    )
    assert _wait_params("redis://h:1/0?socket_timeout=2&wait_replicas=2") == (
        "redis://h:1/0?socket_timeout=2",
        2,
        1000,
    )
    with pytest.raises(ValueError, match=r"wait_replicas .* whole number, not 'one'"):
        _wait_params("redis://h:1/0?wait_replicas=one")


def test_a_charge_no_replica_holds_is_not_acknowledged_and_its_retry_waits_too(
    redis_url: str,
) -> None:
    """The private server has no replica: WAIT 1 times out, so the unblock is refused as
    unavailable although the master holds it; the retry with the same key replays it and
    is refused the same way (the replay writes a marker for WAIT to wait for)."""
    from policy import StoreUnavailable

    waiting = RedisStore(redis_url + "?wait_replicas=1&wait_timeout_ms=50")
    plain = RedisStore(redis_url)
    try:
        plain.create_account(Account(id="acme", npn="4930123456"), now=1.0)
        target = BlockTarget("operator", "x")
        for _ in range(2):
            with pytest.raises(StoreUnavailable, match=r"on 0 of 1 replicas after 50 ms"):
                waiting.unblock("acme", target, 100, "r", "k1", "h", lambda a: a, 2.0)
        assert len(plain.charges("acme")) == 1  # on the master, once
        # A change without a charge does not wait.
        assert waiting.update_account("acme", lambda a: a, now=3.0).version == 3
        replay = plain.unblock("acme", target, 100, "r", "k1", "h", lambda a: a, 4.0)
        assert replay.replayed
    finally:
        waiting.close()
        plain.close()
