"""explain(): a customer block names which of the account's own blocks matched."""

from __future__ import annotations

import pytest

from policy import AccountPolicy, Call, Snapshot, compile_account, explain
from policy.compiler.explain import BlockMatch

ACCOUNT = AccountPolicy(
    account="t",
    npn="+4930123456",
    area_code="30",
    blocked_categories=("mobile", "international"),
    blocked_countries=("44", "33"),
    blocked_prefixes=("+4989", "089 12", "+43"),
)


@pytest.mark.parametrize(
    ("to", "matches", "note"),
    [
        # The longest of the account's prefixes, as the account wrote it.
        (
            "089 1234567",
            (BlockMatch("prefix", "089 12", "498912"),),
            "blocked by the account: prefix 089 12 (498912)",
        ),
        ("089 9876543", (BlockMatch("prefix", "+4989", "4989"),), None),
        ("0151 23456789", (BlockMatch("category", "mobile"),), "category mobile"),
        # A category and a country, each named.
        (
            "+44 20 7946 0000",
            (BlockMatch("category", "international"), BlockMatch("country", "44")),
            "blocked by the account: category international, country 44",
        ),
        (
            "+43 1 234567",
            (BlockMatch("category", "international"), BlockMatch("prefix", "+43", "43")),
            None,
        ),
    ],
)
def test_customer_block_names_the_matching_blocks(
    snapshot: Snapshot, to: str, matches: tuple[BlockMatch, ...], note: str | None
) -> None:
    e = explain(snapshot, Call(to=to), compile_account(snapshot, ACCOUNT))

    assert (e.decision.verdict, e.decision.reason) == ("block", "customer_block")
    assert e.customer_blocks == matches
    (step,) = [s for s in e.steps if s.outcome == "decided"]
    assert step.step == "customer_block"
    for m in matches:
        assert str(m) in step.note
    if note is not None:
        assert note in step.note


def test_no_customer_block_names_none(snapshot: Snapshot) -> None:
    e = explain(snapshot, Call(to="030 9876543"), compile_account(snapshot, ACCOUNT))

    assert e.decision.verdict == "allow"
    assert e.customer_blocks == ()
    step = next(s for s in e.steps if s.step == "customer_block")
    assert (step.outcome, step.note) == ("not_applicable", "the account blocks nothing here")


def test_blocks_are_named_even_when_an_earlier_step_decides(snapshot: Snapshot) -> None:
    """Nothing blocks 112 (clause 9.3), but the explanation still names the account's block."""
    policy = AccountPolicy(account="t", blocked_prefixes=("11",))
    e = explain(snapshot, Call(to="112"), compile_account(snapshot, policy))

    assert e.decision.verdict == "emergency"
    assert e.customer_blocks == (BlockMatch("prefix", "11", "4911"),)
    step = next(s for s in e.steps if s.step == "customer_block")
    assert (step.outcome, step.note) == ("not_reached", "blocked by the account: prefix 11 (4911)")
