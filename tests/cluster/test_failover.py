"""A master dies in the middle of a stream of paid unblocks (issue 12).

Three masters with one replica each; the store acknowledges a charge only after WAIT for
one replica (``wait_replicas=1``). Clients stream unblocks, each with its own
Idempotency-Key, and retry an unacknowledged one with the same key, as the API's 503 and
``Retry-After`` tell a client to. The master of one account's slot is SIGKILLed in the
middle of the stream; its replica takes over, and the dead node is started again (it
rejoins as the new master's replica, so WAIT can be satisfied again). Then the ledger:
every acknowledged charge is present exactly once, and no charge is there twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from policy import Account, BlockTarget, StoreError
from policy.state.store import RedisStore
from tests._redis_cluster import RedisCluster

#: Unblocks each client acknowledges in all.
PER_ACCOUNT = 60
#: Acknowledged unblocks of the victim's account before its master is killed.
KILL_AFTER = 15
#: Seconds one request may keep being retried (a failover takes a few seconds).
REQUEST_DEADLINE = 60.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A cluster of its own: this module kills one of its masters."""
    c = RedisCluster(tmp_path_factory.mktemp("failover"), masters=3, replicas=1).start()
    try:
        yield c
    finally:
        c.stop()


def _accounts_on_distinct_masters(cluster: RedisCluster) -> list[str]:
    """One account id per master, so the kill hits one account and spares two."""
    chosen: dict[int, str] = {}
    i = 0
    while len(chosen) < 3:
        name = f"acct{i}"
        chosen.setdefault(cluster.master_of(f"cp:{{{name}}}:doc").port, name)
        i += 1
    return sorted(chosen.values())


class Client(threading.Thread):
    """Streams paid unblocks for one account, retrying each until it is acknowledged."""

    def __init__(self, url: str, account: str) -> None:
        super().__init__(daemon=True)
        self.store = RedisStore(url)
        self.account = account
        self.acked: list[str] = []
        self.retries = 0
        self.error: Exception | None = None

    def run(self) -> None:
        try:
            for i in range(PER_ACCOUNT):
                self._until_acknowledged(f"{self.account}-k{i}")
        except Exception as exc:  # noqa: BLE001  # a thread cannot raise into the test
            self.error = exc
        finally:
            self.store.close()

    def _until_acknowledged(self, key: str) -> None:
        deadline = time.monotonic() + REQUEST_DEADLINE
        while True:
            try:
                outcome = self.store.unblock(
                    self.account,
                    BlockTarget("operator", "premium-0900"),
                    1500,
                    "block-premium",
                    key,
                    "h-" + key,  # one request per key: a retry is the same request
                    lambda a: a,
                    time.time(),
                )
            except StoreError:  # unavailable, not replicated: the client retries the key
                if time.monotonic() > deadline:
                    raise
                self.retries += 1
                time.sleep(0.05)
                continue
            assert outcome.charge is not None and outcome.charge.idempotency_key == key
            self.acked.append(key)
            return


def test_a_killed_master_loses_no_acknowledged_charge_and_doubles_none(
    cluster: RedisCluster, tmp_path: Path
) -> None:
    url = cluster.url + "?wait_replicas=1&wait_timeout_ms=500"
    names = _accounts_on_distinct_masters(cluster)
    setup = RedisStore(url)
    try:
        for name in names:
            setup.create_account(Account(id=name, name=name), now=time.time())
    finally:
        setup.close()
    victim_master = cluster.master_of(f"cp:{{{names[0]}}}:doc")
    (replica,) = cluster.replicas_of(victim_master)

    clients = [Client(url, name) for name in names]
    for c in clients:
        c.start()
    deadline = time.monotonic() + 60
    while len(clients[0].acked) < KILL_AFTER:
        assert time.monotonic() < deadline, "the stream did not start"
        assert clients[0].error is None, clients[0].error
        time.sleep(0.01)
    cluster.kill(victim_master)
    cluster.wait_promoted(replica)
    assert cluster.master_of(f"cp:{{{names[0]}}}:doc").port == replica.port
    cluster.restart(victim_master)  # back as a replica: WAIT can be satisfied again
    for c in clients:
        c.join(timeout=3 * REQUEST_DEADLINE)
        assert not c.is_alive(), f"{c.account}: still streaming"
        assert c.error is None, f"{c.account}: {c.error!r}"

    check = RedisStore(cluster.url)
    try:
        for c in clients:
            keys = [charge.idempotency_key for charge in check.charges(c.account)]
            assert len(keys) == len(set(keys)), f"{c.account}: a charge is doubled"
            assert sorted(keys) == sorted(c.acked), f"{c.account}: the ledger differs"
            assert len(c.acked) == PER_ACCOUNT
    finally:
        check.close()
    # The kill really interrupted the victim's stream (else this test proved nothing).
    assert clients[0].retries > 0
