"""Emergency routing (clause 9.3): 110 and 112 by their own numbers, the fallback, the
area of an account whose site's area is unknown, and the plan's emergency category."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from policy import AccountError, AccountPolicy, Call, Snapshot, compile_account, decide
from policy.compiler.reference import decide_direct
from policy.errors import RuleErrors
from policy.percall.authorize import emergency_routes
from policy.rules.load import load_rules
from policy.rules.model import Decision, Identity

BERLIN = "test-berlin-mitte"


def _emergency(snap: Snapshot, dial: str, area: str) -> Decision:
    policy = AccountPolicy(account="t", npn="+4930123456", emergency_area=area)
    d = decide(snap, Call(to=dial), compile_account(snap, policy))
    assert d == decide_direct(snap.rules, Call(to=dial), policy)  # the reference agrees
    return d


@pytest.mark.parametrize(
    ("dial", "route", "fallback"),
    [
        ("110", "4911003001", "4911003002"),
        ("+49 110", "4911003001", "4911003002"),
        ("sip:110@pbx.example", "4911003001", "4911003002"),
        ("112", "4911203001", "4911203002"),
        ("0049112", "4911203001", "4911203002"),
    ],
)
def test_110_and_112_route_by_their_own_numbers_with_their_fallback(
    snapshot: Snapshot, dial: str, route: str, fallback: str
) -> None:
    d = _emergency(snapshot, dial, BERLIN)
    assert (d.verdict, d.route, d.fallback) == ("emergency", route, fallback)
    assert d.identity == Identity("4930123456", "npn")


@pytest.mark.parametrize(
    ("dial", "route", "fallback"),
    [("110", "49110990000", "49110990001"), ("112", "49112990000", "49112990001")],
)
def test_no_site_declared_routes_by_the_default_area(
    snapshot: Snapshot, dial: str, route: str, fallback: str
) -> None:
    """No site (``emergency_area`` ''), or one whose municipality no area lists (the
    customer module stores the default area for it): ``default_area`` routes the call,
    with the default area's own fallback."""
    default = snapshot.rules.emergency.default_area
    for area in ("", default):
        d = _emergency(snapshot, dial, area)
        assert (d.verdict, d.route, d.fallback) == ("emergency", route, fallback)


def test_an_area_unknown_to_the_rules_is_an_account_error(snapshot: Snapshot) -> None:
    """An area id the running emergency.toml does not hold (a stale record) does not
    compile; the edge then still routes 110/112 by the default area (test_emergency
    in tests/sip)."""
    with pytest.raises(AccountError, match="emergency_area: expected an area of emergency"):
        compile_account(snapshot, AccountPolicy(account="t", emergency_area="atlantis"))


def test_only_110_and_112_have_emergency_routes(snapshot: Snapshot) -> None:
    area = snapshot.areas[BERLIN]
    assert emergency_routes(area, "49110") == ("4911003001", "4911003002")
    assert emergency_routes(area, "49112") == ("4911203001", "4911203002")
    for digits in ("49113", "4911", "491100", "49115", "110"):
        assert emergency_routes(area, digits) is None  # never "anything else is 112"


def test_over_long_emergency_numbers_are_not_emergency_calls(snapshot: Snapshot) -> None:
    for dial in ("1100", "+49 112 3"):
        d = _emergency(snapshot, dial, BERLIN)
        assert (d.verdict, d.route, d.fallback) == ("reject", "", "")


# --- the plan's emergency category (numbering_plan.toml) ------------------------------

PLAN = "numbering_plan.toml"
SHIPPED = 'prefixes = ["110", "112"]\naction = "emergency"\nmin_digits = 5\nmax_digits = 5'


def _errors(rules_dir: Path, new: str) -> list[str]:
    path = rules_dir / PLAN
    text = path.read_text(encoding="utf-8")
    assert text.count(SHIPPED) == 1
    path.write_text(text.replace(SHIPPED, new), encoding="utf-8")
    with pytest.raises(RuleErrors) as info:
        load_rules(rules_dir)
    return [re.sub(r"^.*numbering_plan\.toml:\d+: ", "", str(e)) for e in info.value.errors]


@pytest.mark.parametrize(
    ("new", "message"),
    [
        (
            'prefixes = ["110", "112", "1161"]\naction = "emergency"\nmin_digits = 5\n'
            "max_digits = 5",
            r"rule_schema_error: \$\.category\[\d+\]\.prefixes\[2\]: expected 110 or 112 "
            r"\(an emergency category routes by the number dialled\), got '1161'",
        ),
        (
            'prefixes = ["11"]\naction = "emergency"\nmin_digits = 5\nmax_digits = 5',
            r"rule_schema_error: \$\.category\[\d+\]\.prefixes\[0\]: expected 110 or 112 "
            r".*, got '11'",
        ),
        (
            'prefixes = ["110", "112"]\naction = "emergency"\nmin_digits = 5\nmax_digits = 7',
            r"rule_schema_error: \$\.category\[\d+\]\.max_digits: expected 5 and 5 in an "
            r"emergency category .*, got min_digits 5, max_digits 7",
        ),
    ],
)
def test_an_emergency_category_holds_110_and_112_only(
    rules_dir: Path, new: str, message: str
) -> None:
    errors = _errors(rules_dir, new)
    assert len(errors) == 1 and re.fullmatch(message, errors[0]), errors


def test_the_default_category_cannot_be_an_emergency_one(rules_dir: Path) -> None:
    path = rules_dir / PLAN
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace('default_category = "international"', 'default_category = "emergency"'),
        encoding="utf-8",
    )
    with pytest.raises(RuleErrors, match=r"\$\.default_category: expected a category that is"):
        load_rules(rules_dir)
