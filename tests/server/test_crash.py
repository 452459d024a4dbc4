"""SIGKILL in the middle of a stream of paid unblocks: the ledger and the state agree.

A real server on an SQLite file takes concurrent chargeable unblocks (distinct accounts
and targets, one Idempotency-Key each) and is killed with SIGKILL after some of them were
answered, while others are in flight. After a restart on the same file:

- every unblock answered 2xx has exactly one charge;
- every charge has its state change (the block is lifted in the account), no target is
  charged twice;
- retrying every unanswered unblock with its key charges it at most once: a request that
  had committed before the kill is replayed, the others are applied now.
"""

from __future__ import annotations

import pathlib
import threading
from concurrent.futures import ThreadPoolExecutor

import httpx

from policy.state.accounts import Account
from policy.state.store import SqliteStore

from ._serve import Server, add_key
from .conftest import NOW, RULES

ACCOUNTS = [f"crash-{i:02d}" for i in range(40)]
BLOCKS = ["premium-rate", "service-012", "user-groups", "directory"]  # all liftable, paid
KILL_AFTER = 40  # answered unblocks before the SIGKILL (of 160)

Job = tuple[str, str, str]  # account, operator block, idempotency key


def _unblock(client: httpx.Client, job: Job) -> httpx.Response:
    account, block, key = job
    return client.delete(
        f"/v1/accounts/{account}/blocks/operator/{block}", headers={"Idempotency-Key": key}
    )


def test_sigkill_mid_stream_keeps_every_charge_with_its_state_change(
    tmp_path: pathlib.Path,
) -> None:
    db = tmp_path / "state.db"
    url = f"sqlite:///{db}"
    seed = SqliteStore(str(db))
    for i, account in enumerate(ACCOUNTS):
        seed.create_account(Account(id=account, npn=f"4930{1000000 + i}"), NOW)
    seed.close()
    key = add_key(url, "operator")
    jobs: list[Job] = [(a, b, f"{a}/{b}/1") for a in ACCOUNTS for b in BLOCKS]
    log = str(tmp_path / "server.log")

    answered: dict[Job, int] = {}
    lock = threading.Lock()
    server = Server(str(RULES), url, log=log).start()

    def send(client: httpx.Client, job: Job) -> None:
        try:
            r = _unblock(client, job)
        except httpx.TransportError:
            return  # no answer: in flight at the kill, or sent after it
        with lock:
            answered[job] = r.status_code
            if len(answered) == KILL_AFTER:
                server.kill()

    headers = {"Authorization": f"Bearer {key}"}
    with (
        httpx.Client(base_url=server.url, headers=headers, timeout=30) as client,
        ThreadPoolExecutor(max_workers=8) as pool,
    ):
        list(pool.map(lambda job: send(client, job), jobs))
    assert server.proc is not None and server.proc.returncode == -9  # it was SIGKILLed
    ok = {job for job, status in answered.items() if 200 <= status < 300}
    assert len(ok) >= KILL_AFTER - 8  # the others in flight may have got an error
    assert len(answered) < len(jobs)  # the stream was cut

    with Server(str(RULES), url, log=log) as restarted:
        store = SqliteStore(str(db))
        try:
            _check_ledger_matches_state(store, ok)
            # Retry every unblock without a 2xx answer, with its own key.
            before = {(c.account, c.idempotency_key) for a in ACCOUNTS for c in store.charges(a)}
            with httpx.Client(base_url=restarted.url, headers=headers, timeout=30) as client:
                for job in jobs:
                    if job in ok:
                        continue
                    r = _unblock(client, job)
                    assert r.status_code == 200, r.text
                    assert r.json()["replayed"] is ((job[0], job[2]) in before)
            _check_ledger_matches_state(store, set(jobs))
            assert sum(len(store.charges(a)) for a in ACCOUNTS) == len(jobs)
        finally:
            store.close()


def _check_ledger_matches_state(store: SqliteStore, charged: set[Job]) -> None:
    """Each job in ``charged`` has one charge; every charge has its lifted block."""
    for account in ACCOUNTS:
        state = store.get_account(account)
        assert state is not None
        charges = store.charges(account)
        targets = [c.target.value for c in charges]
        assert len(targets) == len(set(targets)), f"{account}: a block charged twice"
        for c in charges:
            assert c.target.kind == "operator"
            assert c.target.value in state.lifted, f"{account}: charge {c.id} without its lift"
            assert c.idempotency_key == f"{account}/{c.target.value}/1"
        assert set(state.lifted) == set(targets), f"{account}: a lift without its charge"
    for account, block, key in charged:
        mine = [c for c in store.charges(account) if c.idempotency_key == key]
        assert len(mine) == 1, f"{account} {block}: {len(mine)} charges"
