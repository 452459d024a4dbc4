"""An acknowledged charge survives SIGKILL of the writer, with its state change.

A child process unblocks in a loop and prints each charge id after ``unblock`` returned
(the acknowledgement). The parent SIGKILLs it mid-way, reopens the store and checks the
ledger: every acknowledged charge exactly once, every charge with its state change, and
at most one charge (the one in flight) more than acknowledged. SIGKILL does not test power
loss (the OS page cache survives), but it does catch anything acknowledged before it was
handed to the OS, and a non-atomic state change + ledger write.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from policy.state.accounts import Account
from policy.state.store import Store, open_store

ROOT = Path(__file__).resolve().parents[2]
#: Acknowledgements to wait for before the kill (the child would do far more).
KILL_AFTER = 40

CHILD = """
import sys

import msgspec

from policy.state.accounts import BlockTarget
from policy.state.store import open_store

store = open_store(sys.argv[1])
for i in range(1_000_000):
    target = BlockTarget("operator", f"blk-{i}")
    outcome = store.unblock(
        "acme", target, 100 + i, "block-premium", f"key-{i}", f"hash-{i}",
        lambda a, v=target.value: msgspec.structs.replace(a, lifted=(*a.lifted, v)),
        float(i),
    )
    print(outcome.charge.id, flush=True)
"""


def _run_and_kill(url: str) -> list[str]:
    """Run the child against ``url``, SIGKILL it mid-way; the charge ids it acknowledged."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, url],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stdout is not None and proc.stderr is not None
        acked: list[str] = []
        for line in proc.stdout:
            acked.append(line.strip())
            if len(acked) >= KILL_AFTER:
                break
        proc.send_signal(signal.SIGKILL)
        # Lines printed before the kill are acknowledged too.
        acked += [line.strip() for line in proc.stdout.read().splitlines()]
        err = proc.stderr.read()
        proc.wait()
    assert len(acked) >= KILL_AFTER, f"child stopped early:\n{err}"
    assert proc.returncode == -signal.SIGKILL
    return acked


def _check_ledger(store: Store, acked: list[str], *, feed_may_lag: bool) -> None:
    ledger = store.charges("acme")
    ids = [c.id for c in ledger]
    assert len(ids) == len(set(ids)), "a charge is in the ledger twice"
    missing = set(acked) - set(ids)
    assert not missing, f"acknowledged charges lost: {sorted(missing)}"
    assert len(ids) - len(acked) in (0, 1), "more unacknowledged charges than in flight"
    final = store.get_account("acme")
    assert final is not None
    # Every charge has its state change, and no state change is without its charge.
    assert final.lifted == tuple(c.target.value for c in ledger)
    assert all(c.target.kind == "operator" for c in ledger)
    assert final.version == 1 + len(ledger)
    events = [e for e in store.changes_since(0, limit=1_000_000) if e.account == "acme"]
    if feed_may_lag:  # Redis: the event is appended after EXEC (module docstring).
        assert len(events) - (1 + len(ledger)) in (0, -1)
    else:  # SQLite: the event is in the same transaction.
        assert [e.version for e in events] == list(range(1, 2 + len(ledger)))


def _prepare(url: str) -> None:
    store = open_store(url)
    try:
        store.create_account(Account(id="acme", npn="4930123456"), now=0.0)
    finally:
        store.close()


def test_sqlite_keeps_every_acknowledged_charge_after_sigkill(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'state.db'}"
    _prepare(url)
    acked = _run_and_kill(url)
    store = open_store(url)
    try:
        _check_ledger(store, acked, feed_may_lag=False)
    finally:
        store.close()


def test_redis_keeps_every_acknowledged_charge_after_client_sigkill(redis_url: str) -> None:
    _prepare(redis_url)
    acked = _run_and_kill(redis_url)
    store = open_store(redis_url)
    try:
        _check_ledger(store, acked, feed_may_lag=True)
    finally:
        store.close()
