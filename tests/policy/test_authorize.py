"""decide(): clause 9.5 goldens (the operator cases), precedence, CLIP, emergency routing."""

from __future__ import annotations

import pathlib

import pytest

from policy import AccountPolicy, Call, Snapshot, compile_account, compile_dir, decide, explain
from policy.rules.cases import load_cases, run_cases
from policy.rules.model import Identity, RuleRef, SipAnswer

from .test_differential import EXTRA_BLOCKS

ROOT = pathlib.Path(__file__).resolve().parents[2]
CASES = ROOT / "rules" / "tests"


def _case_ids() -> list[str]:
    return [c.note for _, f in load_cases(str(CASES)) for c in f.case]


@pytest.fixture(scope="module")
def case_results(snapshot: Snapshot) -> dict[str, tuple[str, ...]]:
    return {r.case.note: r.failures for r in run_cases(snapshot, str(CASES))}


@pytest.mark.parametrize("note", _case_ids())
def test_clause_9_5_golden(case_results: dict[str, tuple[str, ...]], note: str) -> None:
    """Every operator case in rules/tests passes (they cover every line of clause 9.5)."""
    assert case_results[note] == ()


@pytest.fixture(scope="module")
def rich(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    target = tmp_path_factory.mktemp("rules")
    for f in (ROOT / "rules").glob("*.toml"):
        (target / f.name).write_text(f.read_text())
    (target / "blocks.toml").write_text((target / "blocks.toml").read_text() + EXTRA_BLOCKS)
    return compile_dir(str(target))


def _decide(snap: Snapshot, to: str, **policy: object) -> tuple[str, str, str]:
    acct = compile_account(snap, AccountPolicy(account="t", npn="+4930123456", **policy))  # type: ignore[arg-type]
    d = decide(snap, Call(to=to), acct)
    return d.verdict, d.reason, d.rule.id if d.rule else ""


@pytest.mark.parametrize(
    ("to", "policy", "expected"),
    [
        # 1. emergency first, always: nothing a customer or operator blocks reaches it.
        ("112", {"blocked_categories": ("emergency",)}, ("emergency", "emergency", "emergency")),
        ("110", {"blocked_prefixes": ("110",)}, ("emergency", "emergency", "emergency")),
        # 2. invalid before any block.
        ("+881 12", {}, ("reject", "incomplete_number", "international")),
        ("0900 1 12", {}, ("reject", "incomplete_number", "premium_rate")),
        # 3. hard blocks before the customer's own and before lifts.
        (
            "+881 1234 56789",
            {"blocked_countries": ("881",)},
            ("block", "country_blocked", "international-networks"),
        ),
        ("+44 20 7946 1234", {}, ("block", "operator_block", "fraud-uk")),
        # a hard-layer exception punches through the hard block only.
        ("+44 20 7946 0000", {}, ("allow", "exception", "fraud-uk-helpdesk")),
        # 4. customer blocks before lifted defaults.
        (
            "0900 1 123456",
            {"lifted": ("premium-rate",), "blocked_categories": ("premium_rate",)},
            ("block", "customer_block", "customer-block"),
        ),
        # 5. lifted defaults allow; 6. default blocks block.
        ("0900 1 123456", {"lifted": ("premium-rate",)}, ("allow", "lifted", "premium-rate")),
        ("0900 8 123456", {"lifted": ("premium-rate",)}, ("block", "premium_rate", "premium-all")),
        ("0900 8 123456", {"lifted": ("premium-all",)}, ("allow", "lifted", "premium-all")),
        # 7. allow.
        ("030 1234567", {}, ("allow", "allowed", "geographic")),
    ],
)
def test_precedence(
    rich: Snapshot, to: str, policy: dict[str, object], expected: tuple[str, str, str]
) -> None:
    assert _decide(rich, to, **policy) == expected


def test_block_decision_carries_rule_location_and_sip(snapshot: Snapshot) -> None:
    acct = compile_account(snapshot, AccountPolicy(account="t"))
    d = decide(snapshot, Call(to="09001123456"), acct)
    assert d.rule == RuleRef("premium-rate", "blocks.toml", 13)
    assert d.sip == SipAnswer(403, "Forbidden", 21)
    assert d.number == "499001123456" and d.category == "premium_rate"


@pytest.mark.parametrize(
    ("dial", "reason", "status", "cause"),
    [
        ("", "invalid_number", 404, 1),
        ("abc", "invalid_number", 404, 1),
        ("0900 1 123456 789 012345", "invalid_number", 404, 1),
        ("1234567", "invalid_number", 404, 1),
        ("01019 030 123456", "carrier_selection", 403, 21),
        ("030 12", "incomplete_number", 484, 28),
        ("2345678", "incomplete_number", 484, 28),  # local number, account without area code
        ("011 23456789", "invalid_number", 404, 1),  # unassigned, would collide with 112
        ("0112", "invalid_number", 404, 1),
        ("+49 112 3456", "invalid_number", 404, 1),  # not 112: an over-long number
    ],
)
def test_invalid_numbers_are_reject_decisions(
    snapshot: Snapshot, dial: str, reason: str, status: int, cause: int
) -> None:
    d = decide(snapshot, Call(to=dial), compile_account(snapshot, AccountPolicy(account="t")))
    assert (d.verdict, d.reason, d.sip) == (
        "reject",
        reason,
        SipAnswer(status, d.sip.phrase if d.sip else "", cause),
    )


def test_emergency_route_follows_the_declared_site_and_sends_the_npn(snapshot: Snapshot) -> None:
    policy = AccountPolicy(account="t", npn="+4930123456", emergency_area="test-berlin-mitte")
    acct = compile_account(snapshot, policy)
    d110 = decide(snapshot, Call(to="110", from_number="+4930123457"), acct)
    d112 = decide(snapshot, Call(to="112"), acct)
    assert (d110.route, d112.route) == ("4911003001", "4911203001")
    assert d110.identity == Identity("4930123456", "npn")


@pytest.mark.parametrize(
    ("to", "from_number", "identity"),
    [
        ("030 1234567", "+4930123457", Identity("4930123457", "upn")),  # own, German route
        ("030 1234567", "+4930999999", Identity("4930123456", "npn")),  # not the account's
        ("030 1234567", "", Identity("4930123456", "npn")),  # nothing sent
        ("030 1234567", "+499001123456", Identity("4930123456", "npn")),  # never presentable
        ("+33 1 23 45 67 89", "+4930123457", Identity("4930123456", "npn")),  # carrier: no UPN
    ],
)
def test_clip(snapshot: Snapshot, to: str, from_number: str, identity: Identity) -> None:
    policy = AccountPolicy(account="t", npn="+4930123456", numbers=("+4930123457", "+499001123456"))
    d = decide(snapshot, Call(to=to, from_number=from_number), compile_account(snapshot, policy))
    assert d.identity == identity


def test_explain_chain_marks_the_deciding_step(rich: Snapshot) -> None:
    acct = compile_account(rich, AccountPolicy(account="t", lifted=("directory",)))
    e = explain(rich, Call(to="11833"), acct)
    outcomes = {s.step: s.outcome for s in e.steps}
    assert outcomes["lifted_default_block"] == "decided"
    assert outcomes["operator_default_block"] == "not_reached"
    assert e.decision.reason == "lifted" and e.matched_prefix == "49118"
    e = explain(rich, Call(to="+44 20 7946 0000"), acct)
    hard = next(s for s in e.steps if s.step == "operator_hard_block")
    assert hard.outcome == "passed" and "excepted by fraud-uk-helpdesk" in hard.note
    e = explain(rich, Call(to="nonsense"), acct)
    assert [s.step for s in e.steps] == ["number"]


@pytest.mark.parametrize(
    "to",
    ["112", "+881 1234 56789", "0900 1 123456", "11822", "030 1234567", "030 12", "01019 0301"],
)
def test_explain_agrees_with_decide(rich: Snapshot, to: str) -> None:
    acct = compile_account(rich, AccountPolicy(account="t"))
    e = explain(rich, Call(to=to), acct)
    decided = [s for s in e.steps if s.outcome == "decided"]
    assert len(decided) == 1
    step_verdict = {
        "emergency": "emergency",
        "not_a_destination": "reject",
        "length": "reject",
        "operator_hard_block": "block",
        "customer_block": "block",
        "lifted_default_block": "allow",
        "operator_default_block": "block",
        "allow": "allow",
        "number": "reject",
    }
    assert step_verdict[decided[0].step] == e.decision.verdict
