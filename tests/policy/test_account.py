"""compile_account(): an account's state checked against the rules, all problems at once."""

from __future__ import annotations

import pytest

from policy import AccountError, AccountPolicy, Snapshot, compile_account
from policy.rules.model import NumberRange


def test_every_problem_is_reported(snapshot: Snapshot) -> None:
    policy = AccountPolicy(
        account="a1",
        npn="not a number",
        area_code="3x",
        blocked_categories=("mobil",),
        blocked_countries=("999",),
        blocked_prefixes=("+49 9OO",),
        lifted=("premium-rat", "emergency"),
        number_blocks=(NumberRange("+4930200099", "+4930200000"),),
        emergency_area="atlantis",
    )
    with pytest.raises(AccountError) as info:
        compile_account(snapshot, policy)
    text = str(info.value)
    for needle in (
        "account 'a1'",
        "area_code: expected 2-5 digits, got '3x'",
        "npn: invalid_number",
        "blocked_categories: expected a category id, got 'mobil'",
        "blocked_countries: expected a country calling code, got '999'",
        "blocked_prefixes[0]",
        "lifted: expected the id of a liftable block, got 'emergency'",
        "lifted: expected the id of a liftable block, got 'premium-rat'",
        "number_blocks[0]: expected first <= last",
        "emergency_area: expected an area of emergency.toml, got 'atlantis'",
    ):
        assert needle in text


def test_blocks_expand_to_own_numbers(snapshot: Snapshot) -> None:
    acct = compile_account(
        snapshot,
        AccountPolicy(
            account="a",
            npn="030 123456",
            area_code="030",
            number_blocks=(NumberRange("+4930200000", "+4930200009"),),
        ),
    )
    assert acct.area_code == "30"
    assert len(acct.own_numbers) == 11 and "4930200009" in acct.own_numbers
    assert acct.npn is not None and acct.npn.number == "4930123456"


def test_oversized_block_is_refused(snapshot: Snapshot) -> None:
    with pytest.raises(AccountError, match="more than 100000 own numbers"):
        compile_account(
            snapshot,
            AccountPolicy(
                account="a", number_blocks=(NumberRange("+49302000000", "+49302999999"),)
            ),
        )
