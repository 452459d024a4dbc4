"""sip_edge/follower.py: store changes and rules reloads reach the core without a restart."""

from __future__ import annotations

import pathlib

import msgspec

from policy.compiler.dialer import Escalation
from policy.percall.runtime import PolicyRuntime
from policy.state.accounts import Account
from policy.state.store import SqliteStore
from sip_edge.follower import EdgeFollower, apply_escalations

from .conftest import Harness, acme, invite


def test_account_changes_and_rules_reloads(
    tmp_path: pathlib.Path, rules_copy: pathlib.Path
) -> None:
    store = SqliteStore(str(tmp_path / "state.db"))
    try:
        store.create_account(acme(), 1.0)
        runtime = PolicyRuntime(str(rules_copy), 0.0)
        edge = Harness(runtime)
        edge.core.drop_account("acme")
        applied: list[tuple[str, Account | None]] = []

        def apply(account_id: str, account: Account | None) -> None:
            applied.append((account_id, account))
            if account is None:
                edge.core.drop_account(account_id)
            else:
                edge.core.set_account(account)

        follower = EdgeFollower(store, runtime, ["acme", "ghost"], apply, lambda: 5.0)
        follower.load()
        assert [a for a, _ in applied] == ["acme", "ghost"]
        assert edge.send(invite())[0][0].status == 100

        def block(a: Account) -> Account:
            return msgspec.structs.replace(a, blocked_prefixes=("4930555",))

        store.update_account("acme", block, 2.0)
        assert follower.step(0.0) == 1
        assert edge.send(invite())[0][0].status == 403  # the next INVITE sees the change

        path = rules_copy / "carriers.toml"
        path.write_text(path.read_text().replace("127.0.0.1:5072", "127.0.0.1:5082"))
        before = runtime.snapshot
        store.publish_rules_change(3.0)
        follower.step(0.0)
        assert runtime.snapshot is not before
        assert edge.send(invite(to="+33123456789"))[1][1] == ("127.0.0.1", 5082)
    finally:
        store.close()


def test_a_broken_reload_keeps_the_running_rules(
    tmp_path: pathlib.Path, rules_copy: pathlib.Path
) -> None:
    store = SqliteStore(str(tmp_path / "state.db"))
    try:
        runtime = PolicyRuntime(str(rules_copy), 0.0)
        follower = EdgeFollower(store, runtime, [], lambda *_: None, lambda: 5.0)
        follower.load()
        (rules_copy / "carriers.toml").write_text("schema = 1\ndefault = 3\n")
        before = runtime.snapshot
        store.publish_rules_change(3.0)
        follower.step(0.0)
        assert runtime.snapshot is before
        assert follower.state == "WARN"
    finally:
        store.close()


def test_escalations_only_raise_the_flag(tmp_path: pathlib.Path) -> None:
    store = SqliteStore(str(tmp_path / "state.db"))
    try:
        store.create_account(acme(), 1.0)
        changed = apply_escalations(store, [Escalation("acme", "throttle")], 2.0)
        assert changed == ["acme"]
        assert apply_escalations(store, [Escalation("acme", "warn")], 3.0) == []
        account = store.get_account("acme")
        assert account is not None and account.dialer_flag == "throttle"
        assert apply_escalations(store, [Escalation("nobody", "suspend")], 3.0) == []
    finally:
        store.close()


def test_escalate_effect_end_to_end(tmp_path: pathlib.Path, runtime: PolicyRuntime) -> None:
    """Window totals from the core -> durable-rules (child process) -> the store's flag."""
    from sip_edge.follower import run_escalation

    store = SqliteStore(str(tmp_path / "state.db"))
    try:
        store.create_account(acme(), 1.0)
        edge = Harness(runtime)
        for _ in range(60):
            edge.send(invite(to="09001234567"))  # 55 over the rate limit in one second
        edge.advance(edge.now + 61)
        (effect,) = edge.core.effects()
        assert run_escalation(store, effect, 10.0) == ["acme"]
        account = store.get_account("acme")
        assert account is not None and account.dialer_flag == "throttle"  # 55 >= 50
    finally:
        store.close()
