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
