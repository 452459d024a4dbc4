"""Customer requests: block, quote and lift (clause 9.5), site declaration and moves (9.3, 10)."""

from __future__ import annotations

import pathlib

import msgspec
import pytest

from policy import RuleSet, load_rules
from policy.state.accounts import BlockTarget
from policy.state.customer import (
    CustomerError,
    add_block,
    apply_unblock,
    geographic_area_code,
    move_site,
    quote_unblock,
    refuse,
    resolve_site,
)
from tests._numbers import account_with

A = account_with("a1", npn="4930123456")


@pytest.fixture(scope="module")
def hard_rules(tmp_path_factory: pytest.TempPathFactory) -> RuleSet:
    root = pathlib.Path(__file__).resolve().parents[2] / "rules"
    target = tmp_path_factory.mktemp("rules")
    for f in root.glob("*.toml"):
        (target / f.name).write_text(f.read_text())
    blocks = target / "blocks.toml"
    blocks.write_text(
        blocks.read_text()
        + '\n[[block]]\nid = "satellite"\nreason = "country_blocked"\ncountries = ["881"]\n'
    )
    return load_rules(str(target))


def test_customer_blocks_are_free_and_normalised(rules: RuleSet) -> None:
    a = add_block(rules, A, BlockTarget("prefix", "089"))
    a = add_block(rules, a, BlockTarget("prefix", "+49 89"))  # the same prefix: no duplicate
    a = add_block(rules, a, BlockTarget("category", "mobile"))
    a = add_block(rules, a, BlockTarget("country", "44"))
    assert (a.blocked_prefixes, a.blocked_categories, a.blocked_countries) == (
        ("4989",),
        ("mobile",),
        ("44",),
    )


@pytest.mark.parametrize(
    ("target", "status", "match"),
    [
        (BlockTarget("category", "mobil"), "invalid", "unknown category 'mobil'"),
        (BlockTarget("country", "999"), "invalid", "expected a country calling code, got '999'"),
        (BlockTarget("prefix", "09OO"), "invalid", "invalid_number"),
        (BlockTarget("operator", "premium-rate"), "invalid", "set by the operator"),
        (BlockTarget("operator", "nope"), "not_found", "no operator block 'nope'"),
    ],
)
def test_bad_block_targets(rules: RuleSet, target: BlockTarget, status: str, match: str) -> None:
    with pytest.raises(CustomerError, match=match) as info:
        add_block(rules, A, target)
    assert info.value.kind == status


def test_quotes_come_from_the_rule_files(rules: RuleSet) -> None:
    q = quote_unblock(rules, A, BlockTarget("operator", "premium-rate"))
    assert (q.allowed, q.fee_cents, q.reason) == (True, 2500, "operator_default_block")
    assert q.rule is not None and q.rule.id == "premium-rate" and q.rule.line > 0
    q = quote_unblock(rules, A, BlockTarget("operator", "directory"))
    assert (q.allowed, q.fee_cents) == (True, 1500)
    blocked = add_block(rules, A, BlockTarget("category", "mobile"))
    q = quote_unblock(rules, blocked, BlockTarget("category", "mobile"))
    assert (q.allowed, q.fee_cents, q.reason) == (True, 500, "customer_block")


def test_nothing_to_lift(rules: RuleSet) -> None:
    q = quote_unblock(rules, A, BlockTarget("category", "mobile"))
    assert (q.allowed, q.reason) == (False, "not_blocked")
    lifted = apply_unblock(A, BlockTarget("operator", "premium-rate"))
    q = quote_unblock(rules, lifted, BlockTarget("operator", "premium-rate"))
    assert (q.allowed, q.reason) == (False, "not_blocked")
    assert refuse(q).kind == "conflict"


def test_hard_blocks_cannot_be_lifted(hard_rules: RuleSet) -> None:
    q = quote_unblock(hard_rules, A, BlockTarget("operator", "satellite"))
    assert (q.allowed, q.reason) == (False, "not_liftable")
    err = refuse(q)
    assert err.kind == "conflict" and err.code == "not_liftable"
    assert "cannot be lifted" in err.message and "blocks.toml" in err.message


def test_unblock_removes_the_customer_block(rules: RuleSet) -> None:
    a = add_block(rules, A, BlockTarget("prefix", "+4989"))
    assert apply_unblock(a, BlockTarget("prefix", "4989")).blocked_prefixes == ()


def test_site_gets_the_emergency_area_of_its_municipality(rules: RuleSet) -> None:
    berlin = resolve_site(rules, "Unter den Linden 1, Berlin", "11000000", "030")
    assert (berlin.area_code, berlin.emergency_area) == ("30", "test-berlin-mitte")
    koeln = resolve_site(rules, "Domkloster 4", "05315000")
    assert (koeln.area_code, koeln.emergency_area) == ("221", rules.emergency.default_area)


def test_the_sites_ortsnetz_comes_from_operator_data_not_from_the_customer(
    rules: RuleSet,
) -> None:
    # The reproduction of issue 10: Berlin numbers, a Hamburg municipality key, "030".
    with pytest.raises(CustomerError, match="area code 030 is not that of municipality 02000000"):
        resolve_site(rules, "Jungfernstieg 1", "02000000", "030")
    with pytest.raises(CustomerError, match="in no local network area") as info:
        resolve_site(rules, "Somewhere", "99999999", "30")
    assert info.value.code == "unknown_municipality"
    # Hamburg lies in two local networks (Neuwerk is in 04721): the site must say which.
    with pytest.raises(CustomerError, match="several local networks"):
        resolve_site(rules, "Neuwerk", "02000000")
    assert resolve_site(rules, "Neuwerk", "02000000", "04721").area_code == "4721"
    assert resolve_site(rules, "Jungfernstieg 1", "02000000", "40").area_code == "40"


def test_move_inside_the_local_network_updates_routing(rules: RuleSet) -> None:
    a = move_site(A, resolve_site(rules, "Alexanderplatz 1", "11000000", "30"))
    assert a.site is not None and a.site.emergency_area == "test-berlin-mitte"


def test_move_outside_the_local_network_needs_new_numbers(rules: RuleSet) -> None:
    a = account_with(
        "a2",
        npn="4930123456",
        numbers=("4917012345678",),  # mobile: no local network, never in the way
        blocks=(("4930200000", "4930200099"),),
    )
    a = msgspec.structs.replace(
        a,
        holdings=tuple(
            msgspec.structs.replace(h, area_code="30") if h.first.startswith("4930") else h
            for h in a.holdings
        ),
    )
    with pytest.raises(CustomerError, match=r"needs new numbers") as info:
        move_site(a, resolve_site(rules, "Jungfernstieg 1", "02000000", "40"))
    assert info.value.code == "move_outside_local_network" and info.value.kind == "conflict"
    assert "+4930123456" in info.value.message and "+4930200000" in info.value.message
    assert "+4917012345678" not in info.value.message


@pytest.mark.parametrize(
    ("number", "area"),
    [
        ("4930123456", "30"),
        ("49891234567", "89"),
        ("4935811234", "3581"),
        ("4917012345678", None),
        ("4412345", None),
    ],
)
def test_geographic_area_code(number: str, area: str | None) -> None:
    assert geographic_area_code(number) == area


@pytest.mark.parametrize(
    ("written", "canonical"),
    [("+4989", "4989"), ("089", "4989"), ("4989", "4989"), ("+1 212", "1212"), ("1212", "1212")],
)
def test_prefix_targets_normalise_idempotently(
    rules: RuleSet, written: str, canonical: str
) -> None:
    from policy.state.customer import normalise_target

    once = normalise_target(rules, BlockTarget("prefix", written))
    assert once == BlockTarget("prefix", canonical)
    assert normalise_target(rules, once) == once
