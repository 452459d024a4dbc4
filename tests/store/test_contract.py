"""The Store contract (policy/store/base.py), run against SQLite and a real redis-server."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy.state.accounts import Account, BlockTarget, ChangeEvent, Principal, UnblockOutcome
from policy.state.store import (
    AccountExists,
    AccountNotFound,
    IdempotencyConflict,
    KeyNotFound,
    Store,
    StoreError,
)
from policy.state.store._records import charge_id

from .conftest import Backend

NPN = "4930123456"
LIFT = BlockTarget("operator", "premium-0900")


def account(account_id: str = "acme", **fields: object) -> Account:
    """A minimal valid account."""
    return Account(id=account_id, npn=NPN, **fields)  # type: ignore[arg-type]


def add_prefix(prefix: str) -> Callable[[Account], Account]:
    """A change appending one blocked prefix."""
    return lambda a: msgspec.structs.replace(a, blocked_prefixes=(*a.blocked_prefixes, prefix))


def lift(target: BlockTarget = LIFT) -> Callable[[Account], Account]:
    """A change lifting an operator block (what the API's unblock does)."""
    return lambda a: msgspec.structs.replace(a, lifted=(*a.lifted, target.value))


def boom(_: Account) -> Account:
    """A change that fails."""
    raise RuntimeError("change failed")


def do_unblock(
    store: Store,
    key: str = "k1",
    *,
    fee: int = 1500,
    request_hash: str = "h1",
    target: BlockTarget = LIFT,
    change: Callable[[Account], Account] | None = None,
    now: float = 100.0,
    account_id: str = "acme",
) -> UnblockOutcome:
    """An unblock with defaults for everything the test does not care about."""
    return store.unblock(
        account_id,
        target,
        fee,
        "block-premium",
        key,
        request_hash,
        change or lift(target),
        now,
    )


# -- accounts ---------------------------------------------------------------------------


def test_create_sets_version_1_and_emits_an_event(store: Store) -> None:
    created = store.create_account(account(version=7), now=10.0)
    assert created.version == 1
    assert store.get_account("acme") == created
    assert store.changes_since(0) == [
        ChangeEvent(seq=store.last_seq(), account="acme", kind="account", version=1, at=10.0)
    ]


def test_create_twice_raises_account_exists_and_writes_nothing(store: Store) -> None:
    store.create_account(account(name="first"), now=1.0)
    seq = store.last_seq()
    with pytest.raises(AccountExists, match="acme"):
        store.create_account(account(name="second"), now=2.0)
    assert store.get_account("acme") == account(name="first", version=1)
    assert store.last_seq() == seq


def test_create_rejects_an_invalid_account_id(store: Store) -> None:
    with pytest.raises(msgspec.ValidationError, match=r"\$\.id"):
        store.create_account(account("Bad{id}"), now=1.0)
    assert store.list_accounts() == []
    assert store.last_seq() == 0


def test_get_missing_account_is_none(store: Store) -> None:
    assert store.get_account("nobody") is None


def test_list_accounts_is_sorted(store: Store) -> None:
    assert store.list_accounts() == []
    for account_id in ["zeta", "acme", "m-1"]:
        store.create_account(account(account_id), now=1.0)
    assert store.list_accounts() == ["acme", "m-1", "zeta"]


def test_update_bumps_the_version_and_emits_it(store: Store) -> None:
    store.create_account(account(), now=1.0)
    updated = store.update_account("acme", add_prefix("49900"), now=2.0)
    assert updated.version == 2
    assert updated.blocked_prefixes == ("49900",)
    assert store.get_account("acme") == updated
    again = store.update_account("acme", add_prefix("49137"), now=3.0)
    assert again.version == 3
    events = store.changes_since(0)
    assert [(e.version, e.at) for e in events] == [(1, 1.0), (2, 2.0), (3, 3.0)]


def test_update_ignores_a_version_set_by_the_change(store: Store) -> None:
    store.create_account(account(), now=1.0)
    updated = store.update_account("acme", lambda a: msgspec.structs.replace(a, version=99), 2.0)
    assert updated.version == 2


def test_update_missing_account_raises_not_found(store: Store) -> None:
    with pytest.raises(AccountNotFound, match="nobody"):
        store.update_account("nobody", add_prefix("49900"), now=1.0)
    assert store.last_seq() == 0


def test_update_whose_change_raises_writes_nothing(store: Store) -> None:
    created = store.create_account(account(), now=1.0)
    seq = store.last_seq()
    with pytest.raises(RuntimeError, match="change failed"):
        store.update_account("acme", boom, now=2.0)
    assert store.get_account("acme") == created
    assert store.last_seq() == seq
    # The store is still usable afterwards (no transaction left open, no lock held).
    assert store.update_account("acme", add_prefix("49900"), now=3.0).version == 2


def test_update_may_not_change_the_account_id(store: Store) -> None:
    store.create_account(account(), now=1.0)
    with pytest.raises(ValueError, match="must not alter the account id"):
        store.update_account("acme", lambda a: msgspec.structs.replace(a, id="other"), 2.0)
    assert store.get_account("acme") == account(version=1)
    assert store.get_account("other") is None


def test_concurrent_updates_lose_nothing(store: Store) -> None:
    store.create_account(account(), now=0.0)
    threads, increments = 4, 50

    def work(t: int) -> None:
        for i in range(increments):
            store.update_account("acme", add_prefix(f"{t}{i:03d}"), now=float(i))

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))
    final = store.get_account("acme")
    assert final is not None
    assert len(final.blocked_prefixes) == threads * increments
    assert len(set(final.blocked_prefixes)) == threads * increments
    assert final.version == 1 + threads * increments
    versions = [e.version for e in store.changes_since(0, limit=10_000)]
    assert sorted(versions) == list(range(1, 2 + threads * increments))


def test_a_stored_doc_with_an_unknown_field_still_decodes(backend: Backend) -> None:
    store = backend.store
    created = store.create_account(account(name="Acme"), now=1.0)
    doc = msgspec.json.decode(msgspec.json.encode(created))
    doc["added_by_a_newer_release"] = {"nested": [1, 2]}
    backend.put_raw_doc("acme", msgspec.json.encode(doc))
    assert store.get_account("acme") == created
    # ... and an update rewrites it in the current schema.
    assert store.update_account("acme", add_prefix("49900"), now=2.0).name == "Acme"


# -- unblock ----------------------------------------------------------------------------


def test_unblock_changes_state_and_appends_one_charge(store: Store) -> None:
    store.create_account(account(), now=1.0)
    outcome = do_unblock(store, now=5.0)
    assert not outcome.replayed
    assert outcome.account.lifted == ("premium-0900",)
    assert outcome.account.version == 2
    assert store.get_account("acme") == outcome.account
    charge = outcome.charge
    assert charge is not None
    assert charge.id == charge_id("acme", "k1")
    assert (charge.account, charge.target, charge.fee_cents) == ("acme", LIFT, 1500)
    assert (charge.rule, charge.idempotency_key, charge.created_at) == ("block-premium", "k1", 5.0)
    assert store.charges("acme") == [charge]
    assert store.changes_since(1) == [
        ChangeEvent(seq=2, account="acme", kind="account", version=2, at=5.0)
    ]


def test_unblock_replay_returns_the_first_outcome_and_writes_nothing(store: Store) -> None:
    store.create_account(account(), now=1.0)
    first = do_unblock(store, now=5.0)
    store.update_account("acme", add_prefix("49900"), now=6.0)
    seq = store.last_seq()
    calls: list[Account] = []

    def counted(a: Account) -> Account:
        calls.append(a)
        return a

    replay = do_unblock(store, change=counted, now=7.0)
    assert replay == msgspec.structs.replace(first, replayed=True)
    assert replay.account.version == 2  # the account as it was at the time
    assert calls == []
    assert store.charges("acme") == [first.charge]
    assert store.last_seq() == seq
    assert store.get_account("acme").version == 3  # type: ignore[union-attr]


def test_unblock_with_the_key_of_another_request_conflicts(store: Store) -> None:
    store.create_account(account(), now=1.0)
    do_unblock(store, request_hash="h1")
    before = store.get_account("acme")
    seq = store.last_seq()
    with pytest.raises(IdempotencyConflict, match="'k1'"):
        do_unblock(store, request_hash="h2", target=BlockTarget("operator", "other"))
    assert store.get_account("acme") == before
    assert len(store.charges("acme")) == 1
    assert store.last_seq() == seq


def test_idempotency_keys_are_per_account(store: Store) -> None:
    store.create_account(account("a1"), now=1.0)
    store.create_account(account("a2"), now=1.0)
    one = do_unblock(store, account_id="a1")
    two = do_unblock(store, account_id="a2", request_hash="another")
    assert not one.replayed and not two.replayed
    assert one.charge is not None and two.charge is not None
    assert one.charge.id != two.charge.id
    assert len(store.charges("a1")) == len(store.charges("a2")) == 1


def test_unblock_with_fee_0_records_the_key_but_no_charge(store: Store) -> None:
    store.create_account(account(), now=1.0)
    outcome = do_unblock(store, fee=0)
    assert outcome.charge is None
    assert outcome.account.lifted == ("premium-0900",)
    assert store.charges("acme") == []
    replay = do_unblock(store, fee=0)
    assert replay == msgspec.structs.replace(outcome, replayed=True)
    with pytest.raises(IdempotencyConflict):
        do_unblock(store, fee=0, request_hash="h2")
    assert store.get_account("acme").version == 2  # type: ignore[union-attr]


def test_unblock_rejects_a_negative_fee(store: Store) -> None:
    store.create_account(account(), now=1.0)
    with pytest.raises(ValueError, match="fee_cents must be >= 0"):
        do_unblock(store, fee=-1)
    assert store.charges("acme") == []


def test_unblock_of_a_missing_account_raises_and_keeps_the_key_free(store: Store) -> None:
    with pytest.raises(AccountNotFound, match="acme"):
        do_unblock(store)
    store.create_account(account(), now=1.0)
    assert not do_unblock(store).replayed


def test_unblock_whose_change_raises_writes_nothing(store: Store) -> None:
    created = store.create_account(account(), now=1.0)
    seq = store.last_seq()
    with pytest.raises(RuntimeError, match="change failed"):
        do_unblock(store, change=boom)
    assert store.get_account("acme") == created
    assert store.charges("acme") == []
    assert store.last_seq() == seq
    # The key was not recorded: the retry is a first attempt, not a replay.
    outcome = do_unblock(store)
    assert not outcome.replayed
    assert outcome.charge is not None


def test_concurrent_unblocks_with_one_key_charge_once(store: Store) -> None:
    store.create_account(account(), now=1.0)
    threads = 8
    barrier = threading.Barrier(threads)

    def attempt(_: int) -> UnblockOutcome:
        barrier.wait()
        return do_unblock(store)

    with ThreadPoolExecutor(threads) as pool:
        outcomes = list(pool.map(attempt, range(threads)))
    assert sum(not o.replayed for o in outcomes) == 1
    assert {o.charge.id for o in outcomes if o.charge} == {charge_id("acme", "k1")}
    assert len(store.charges("acme")) == 1
    final = store.get_account("acme")
    assert final is not None
    assert (final.version, final.lifted) == (2, ("premium-0900",))


def test_charges_are_oldest_first(store: Store) -> None:
    store.create_account(account(), now=1.0)
    keys = ["z", "a", "m", "b"]
    for i, key in enumerate(keys):
        do_unblock(store, key, request_hash=key, target=BlockTarget("prefix", key), now=10.0 + i)
    ledger = store.charges("acme")
    assert [c.idempotency_key for c in ledger] == keys
    assert [c.created_at for c in ledger] == [10.0, 11.0, 12.0, 13.0]
    assert store.charges("nobody") == []


_counter = itertools.count()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=st.lists(st.tuples(st.integers(0, 4), st.sampled_from([0, 500, 1500])), max_size=12))
def test_unblock_matches_a_model(store: Store, ops: list[tuple[int, int]]) -> None:
    """Random unblock sequences: one charge per first use of a key with a fee, no more."""
    account_id = f"model-{next(_counter)}"  # fresh per example: the store is shared
    store.create_account(account(account_id), now=0.0)
    first_fee: dict[int, int] = {}
    for key, fee in ops:
        target = BlockTarget("operator", f"b{key}")
        request = (account_id, target, fee, "r", f"k{key}", f"{key}:{fee}", lift(target), 1.0)
        if key in first_fee and first_fee[key] != fee:
            with pytest.raises(IdempotencyConflict):
                store.unblock(*request)
            continue
        outcome = store.unblock(*request)
        assert outcome.replayed == (key in first_fee)
        first_fee.setdefault(key, fee)
    ledger = store.charges(account_id)
    expected = [k for k, fee in first_fee.items() if fee > 0]
    assert [c.idempotency_key for c in ledger] == [f"k{k}" for k in expected]
    final = store.get_account(account_id)
    assert final is not None
    assert final.version == 1 + len(first_fee)
    assert final.lifted == tuple(f"b{k}" for k in first_fee)


# -- api keys ---------------------------------------------------------------------------


def test_api_keys_round_trip(store: Store) -> None:
    assert store.get_api_key("sha256:none") is None
    operator = Principal(key_id="op-1", role="operator")
    employee = Principal(key_id="emp-7", role="employee", account="acme")
    store.put_api_key("sha256:aa", operator)
    store.put_api_key("sha256:bb", employee)
    assert store.get_api_key("sha256:aa") == operator
    assert store.get_api_key("sha256:bb") == employee
    admin = Principal(key_id="emp-7", role="admin", account="acme")
    store.put_api_key("sha256:bb", admin)
    assert store.get_api_key("sha256:bb") == admin


# -- change feed ------------------------------------------------------------------------


def test_change_events_in_order_with_kinds_and_versions(store: Store) -> None:
    assert store.last_seq() == 0
    assert store.changes_since(0) == []
    store.create_account(account("a1"), now=1.0)
    store.create_account(account("a2"), now=2.0)
    store.update_account("a1", add_prefix("49900"), now=3.0)
    do_unblock(store, account_id="a2", now=4.0)
    rules = store.publish_rules_change(now=5.0)
    events = store.changes_since(0)
    assert [(e.account, e.kind, e.version, e.at) for e in events] == [
        ("a1", "account", 1, 1.0),
        ("a2", "account", 1, 2.0),
        ("a1", "account", 2, 3.0),
        ("a2", "account", 2, 4.0),
        ("", "rules", 0, 5.0),
    ]
    seqs = [e.seq for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert events[-1] == rules
    assert store.last_seq() == rules.seq
    assert all(e.schema == 1 for e in events)


def test_changes_since_pages_with_limit(store: Store) -> None:
    for i in range(7):
        store.publish_rules_change(now=float(i))
    seen: list[ChangeEvent] = []
    seq = 0
    while page := store.changes_since(seq, limit=3):
        assert len(page) <= 3
        seen += page
        seq = page[-1].seq
    assert [e.at for e in seen] == [float(i) for i in range(7)]
    assert store.changes_since(store.last_seq()) == []


def test_wait_changes_returns_pending_events_at_once(store: Store) -> None:
    event = store.publish_rules_change(now=1.0)
    assert store.wait_changes(0, timeout=5.0) == [event]


def test_wait_changes_times_out_empty(store: Store) -> None:
    store.publish_rules_change(now=1.0)
    assert store.wait_changes(store.last_seq(), timeout=0.05) == []
    assert store.wait_changes(store.last_seq(), timeout=0) == []


def test_wait_changes_wakes_when_another_thread_writes(store: Store) -> None:
    store.create_account(account(), now=1.0)
    seq = store.last_seq()
    writer = threading.Timer(0.05, lambda: store.update_account("acme", add_prefix("1"), 2.0))
    writer.start()
    try:
        events = store.wait_changes(seq, timeout=5.0)
    finally:
        writer.join()
    assert [(e.account, e.version) for e in events] == [("acme", 2)]


def test_close_releases_the_store(backend: Backend) -> None:
    backend.store.create_account(account(), now=1.0)
    backend.store.close()
    reopened = backend.reopen()
    try:
        assert reopened.list_accounts() == ["acme"]
    finally:
        reopened.close()


def test_store_errors_share_a_base() -> None:
    for error in (AccountExists, AccountNotFound, IdempotencyConflict):
        assert issubclass(error, StoreError)


def test_changes_since_with_limit_0_is_empty(store: Store) -> None:
    store.publish_rules_change(now=1.0)
    assert store.changes_since(0, limit=0) == []


def test_charges_page_by_position(store: Store) -> None:
    store.create_account(account(), 0.0)
    for i in range(5):
        do_unblock(store, f"k{i}", request_hash=f"h{i}", change=add_prefix(f"49{i}"))
    first = store.charges_page("acme", 0, 2)
    assert [pos for pos, _ in first] == [1, 2]
    rest = store.charges_page("acme", first[-1][0], 10)
    assert [pos for pos, _ in rest] == [3, 4, 5]
    assert [c.idempotency_key for _, c in first + rest] == [f"k{i}" for i in range(5)]
    assert store.charges_page("acme", 5, 10) == [] and store.charges_page("acme", 0, 0) == []
    assert all(c.currency == "EUR" for _, c in rest)


def test_api_keys_listed_revoked_and_touched(store: Store) -> None:
    admin = Principal(key_id="key_admin", role="admin", account="acme")
    operator = Principal(key_id="key_op", role="operator")
    store.put_api_key("h-admin", admin, 10.0)
    store.put_api_key("h-op", operator, 20.0)
    assert [k.key_id for k in store.list_api_keys()] == ["key_admin", "key_op"]
    assert [k.key_id for k in store.list_api_keys("acme")] == ["key_admin"]
    store.touch_api_key("h-admin", 30.0)
    (info,) = store.list_api_keys("acme")
    assert (info.created_at, info.last_used_at, info.revoked_at) == (10.0, 30.0, None)
    revoked = store.revoke_api_key("key_admin", 40.0)
    assert revoked.revoked_at == 40.0
    assert store.get_api_key("h-admin") is None  # a revoked key authenticates nothing
    assert store.revoke_api_key("key_admin", 50.0).revoked_at == 40.0  # the first time stays
    assert store.get_api_key("h-op") == operator
    with pytest.raises(KeyNotFound):
        store.revoke_api_key("key_nope", 60.0)
