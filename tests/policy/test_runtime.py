"""PolicyRuntime: one snapshot swapped atomically; a failed reload keeps the running one."""

from __future__ import annotations

import pathlib

import pytest

from policy import Call, RuleErrors
from policy.percall.runtime import PolicyRuntime
from policy.state.accounts import Account


def test_reload_swaps_and_failed_reload_keeps_running_rules(rules_copy: pathlib.Path) -> None:
    rt = PolicyRuntime(str(rules_copy), now=100.0)
    account = Account(id="a1", npn="4930123456")
    assert rt.decide(account, Call(to="+4930987654")).verdict == "allow"
    first = rt.info

    blocks = rules_copy / "blocks.toml"
    good = blocks.read_text()
    blocks.write_text(
        good + '\n[[block]]\nid = "berlin"\nreason = "operator_block"\nprefixes = ["030"]\n'
    )
    info = rt.reload(now=200.0)
    assert (info.version, info.loaded_at) == (2, 200.0) and info.revision != first.revision
    assert rt.decide(account, Call(to="+4930987654")).reason == "operator_block"

    blocks.write_text(
        good + '\n[[block]]\nid = "broken"\nreason = "operator_block"\nprefixes = ["03O"]\n'
    )
    with pytest.raises(RuleErrors, match=r"blocks\.toml:\d+: rule_schema_error"):
        rt.reload(now=300.0)
    assert rt.info == info  # nothing swapped
    assert rt.decide(account, Call(to="+4930987654")).reason == "operator_block"


def test_compiled_accounts_are_cached_per_version(rules_copy: pathlib.Path) -> None:
    rt = PolicyRuntime(str(rules_copy), now=0.0, cache_size=2)
    a1 = Account(id="a1", npn="4930123456", version=1)
    assert rt.compiled(a1) is rt.compiled(a1)
    a1v2 = Account(id="a1", npn="4930123456", version=2, blocked_categories=("mobile",))
    assert rt.compiled(a1v2).blocked_classes
    assert rt.decide(a1v2, Call(to="0171 1234567")).reason == "customer_block"
    for i in range(5):
        rt.compiled(Account(id=f"x{i}", npn="4930123456"))
    assert len(rt._cache) == 2  # bounded
