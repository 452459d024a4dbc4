"""The operator's side of an account: number life cycle, Ortsnetz, NPN, suspension (issue 10).

Time is passed in: a port-in on its date is a virtual clock moving past ``port_date``.
"""

from __future__ import annotations

import msgspec
import pytest

from policy import (
    Account,
    AccountPolicy,
    Call,
    CustomerError,
    RuleSet,
    SiteProof,
    Snapshot,
    activate,
    assign,
    compile_account,
    decide,
    port_in,
    port_out,
    presentable_since,
    relocate,
    resolve_site,
    resume,
    return_holding,
    return_part,
    set_npn,
    set_presentation,
    split,
    suspend,
)
from policy.state.lifecycle import TRANSITIONS

OP = "key_operator"
DAY = 86_400.0
PROOF = SiteProof(kind="handelsregister", reference="HRB 12345", verified_by=OP, verified_at=0)


@pytest.fixture()
def berlin(rules: RuleSet) -> Account:
    site = resolve_site(rules, "Unter den Linden 1", "11000000")
    return Account(id="acme", site=site)


def test_new_assignment_goes_ordered_then_active_with_its_activation_time(berlin: Account) -> None:
    e = assign(berlin, "+49 30 1234560", "+49 30 1234569", 10.0, OP)
    (h,) = e.account.holdings
    assert (h.id, h.state, h.area_code, h.ordered_at, h.activated_at) == (
        "49301234560-49301234569",
        "ordered",
        "30",
        10.0,
        None,
    )
    assert e.audit[0].action == "number.ordered" and e.audit[0].actor == OP
    assert not e.account.owns_active("49301234565")
    a = activate(e.account, h.id, 20.0, OP, PROOF).account
    assert a.holdings[0].state == "active" and a.holdings[0].activated_at == 20.0
    assert a.owns_active("49301234565") and presentable_since(a, "49301234565") == 20.0
    assert a.holdings[0].proof is not None and a.holdings[0].proof.municipality == "11000000"


def test_a_port_in_becomes_active_on_its_date_not_before(berlin: Account) -> None:
    date = 100 * DAY
    e = port_in(berlin, "030 555 1234", None, "Telekom", date, 1 * DAY, OP)
    h = e.account.holdings[0]
    assert h.state == "porting" and h.porting is not None and h.porting.port_date == date
    with pytest.raises(CustomerError, match="cannot be active before then") as info:
        activate(e.account, h.id, date - 1, OP, PROOF)
    assert info.value.code == "port_date_not_reached"
    a = activate(e.account, h.id, date, OP, PROOF).account
    assert a.holdings[0].state == "active" and a.holdings[0].activated_at == date


def test_geographic_numbers_only_inside_the_sites_ortsnetz(rules: RuleSet, berlin: Account) -> None:
    # The reproduction of issue 10: a Berlin account given Hamburg and Munich numbers.
    for number in ("+49 40 1234567", "+49 89 1234567"):
        with pytest.raises(CustomerError, match="Ortsnetz") as info:
            assign(berlin, number, None, 0, OP)
        assert info.value.code == "outside_ortsnetz"
    with pytest.raises(CustomerError, match="declare the site first") as info:
        assign(Account(id="nosite"), "+49 30 1234567", None, 0, OP)
    assert info.value.code == "site_required"
    # Not geographic: mobile, 032 and 0800 are not bound to a place.
    a = berlin
    for number in ("+49 170 1234567", "+49 32 12345678", "+49 800 1234567"):
        a = assign(a, number, None, 0, OP).account
    assert [h.area_code for h in a.holdings] == ["", "", ""]
    assert all(activate(a, h.id, 1, OP).account for h in a.holdings)  # no proof needed


def test_activation_needs_a_proof_of_the_site_made_for_that_site(
    rules: RuleSet, berlin: Account
) -> None:
    a = assign(berlin, "+49 30 1234567", None, 0, OP).account
    with pytest.raises(CustomerError, match="needs a verified proof") as info:
        activate(a, "49301234567", 1, OP)
    assert info.value.code == "proof_required"
    elsewhere = msgspec.structs.replace(PROOF, municipality="02000000")
    with pytest.raises(CustomerError, match="was made for municipality 02000000"):
        activate(a, "49301234567", 1, OP, elsewhere)


def test_a_blocks_size_is_fixed_and_numbers_are_not_held_twice(berlin: Account) -> None:
    a = assign(berlin, "+49 30 1234560", "+49 30 1234569", 0, OP).account
    with pytest.raises(CustomerError, match="cannot be increased later") as info:
        assign(a, "+49 30 1234000", "+49 30 1234999", 0, OP)  # 10 -> 1,000 (clause 9.2)
    assert info.value.code == "block_size_fixed"
    with pytest.raises(CustomerError, match="overlaps") as info:
        assign(a, "+49 30 1234565", None, 0, OP)
    assert info.value.code == "number_taken"
    for first, last in (
        ("+49 30 1234561", "+49 30 1234570"),
        ("+49 30 12345600", "+49 30 12345649"),
    ):
        with pytest.raises(CustomerError, match=r"from …0 to …9") as info:
            assign(berlin, first, last, 0, OP)
        assert info.value.code == "invalid_block_size"


@pytest.mark.parametrize(
    ("start", "to"),
    [
        (s, t)
        for s in TRANSITIONS
        for t in ("active", "porting_out", "returned")
        if t not in TRANSITIONS[s]
    ],
)
def test_refused_transitions(berlin: Account, start: str, to: str) -> None:
    a = assign(berlin, "+49 170 1234567", None, 0, OP).account
    a = msgspec.structs.replace(a, holdings=(msgspec.structs.replace(a.holdings[0], state=start),))
    action = {"active": lambda: activate(a, a.holdings[0].id, 1, OP),
              "porting_out": lambda: port_out(a, a.holdings[0].id, 1, OP),
              "returned": lambda: return_holding(a, a.holdings[0].id, 1, OP)}[to]  # fmt: skip
    with pytest.raises(CustomerError) as info:
        action()
    assert info.value.code in ("invalid_transition", "port_date_not_reached")


def test_port_out_and_return_stop_presentation_and_guard_the_npn(berlin: Account) -> None:
    a = assign(berlin, "+49 170 1111111", None, 0, OP).account
    a = assign(a, "+49 170 2222222", None, 0, OP).account
    a = activate(a, "491701111111", 1, OP).account
    a = activate(a, "491702222222", 1, OP).account
    a = set_npn(a, "+49 170 1111111", 2, OP).account
    a = set_presentation(a, {"201": "+49 170 2222222"}, 3, "key_admin").account
    with pytest.raises(CustomerError, match="main number") as info:
        port_out(a, "491701111111", 4, OP)
    assert info.value.code == "npn_in_use"
    out = port_out(a, "491702222222", 4, OP).account
    assert out.holdings[1].state == "porting_out" and out.presentation == {}
    assert not out.owns_active("491702222222")
    gone = return_holding(out, "491702222222", 5, OP).account
    assert gone.holdings[1].state == "returned" and gone.holdings[1].ended_at == 5


def test_npn_must_be_an_active_number_of_the_account(berlin: Account) -> None:
    a = assign(berlin, "+49 170 1111111", None, 0, OP).account
    for number in ("+49 170 1111111", "+49 170 9999999"):  # ordered; not the account's
        with pytest.raises(CustomerError, match="not an active number") as info:
            set_npn(a, number, 1, OP)
        assert info.value.code == "npn_not_active"


def test_split_and_return_part_keep_the_rest_held_in_aligned_parts(berlin: Account) -> None:
    a = assign(berlin, "+49 30 1234500", "+49 30 1234599", 0, OP).account
    a = activate(a, "49301234500-49301234599", 1, OP, PROOF).account
    e = return_part(a, "49301234500-49301234599", "+49 30 1234520", "+49 30 1234529", 2, OP)
    parts = {(h.first[-2:], h.last[-2:]): h.state for h in e.account.holdings[1:]}
    assert e.account.holdings[0].state == "split"
    assert parts == {
        ("00", "09"): "active",
        ("10", "19"): "active",
        ("20", "29"): "returned",
        ("30", "39"): "active",
        ("40", "49"): "active",
        ("50", "59"): "active",
        ("60", "69"): "active",
        ("70", "79"): "active",
        ("80", "89"): "active",
        ("90", "99"): "active",
    }
    assert e.account.owns_active("49301234519") and not e.account.owns_active("49301234525")
    assert all(h.parent == "49301234500-49301234599" for h in e.account.holdings[1:])
    s = split(a, "49301234500-49301234599", 10, 2, OP).account
    assert len(s.holdings) == 11 and all(h.activated_at == 1 for h in s.holdings[1:])


def test_presentation_only_of_active_own_numbers(berlin: Account) -> None:
    a = assign(berlin, "+49 170 1111111", None, 0, OP).account
    with pytest.raises(CustomerError, match="not an active number") as info:
        set_presentation(a, {"201": "+49 170 1111111"}, 1, "key_admin")
    assert info.value.code == "not_active"
    with pytest.raises(CustomerError, match="not an active number"):
        set_presentation(a, {"201": "+49 40 1234567"}, 1, "key_admin")


def test_relocation_returns_the_old_areas_numbers_and_orders_new_ones(
    rules: RuleSet, berlin: Account
) -> None:
    a = assign(berlin, "+49 30 1234567", None, 0, OP).account
    a = activate(a, "49301234567", 1, OP, PROOF).account
    a = assign(a, "+49 170 1111111", None, 0, OP).account
    a = set_npn(a, "+49 30 1234567", 2, OP).account
    hamburg = resolve_site(rules, "Jungfernstieg 1", "02000000", "40")
    e = relocate(a, hamburg, [("+49 40 7654320", "+49 40 7654329")], 3, OP)
    states = {h.id: h.state for h in e.account.holdings}
    assert states == {
        "49301234567": "returned",
        "491701111111": "ordered",  # mobile: not bound to a place
        "49407654320-49407654329": "ordered",
    }
    assert e.account.npn == "" and e.account.site == hamburg
    assert [x.action for x in e.audit] == [
        "number.returned",
        "npn.set",
        "site.relocate",
        "number.ordered",
    ]


def test_suspension_refuses_calls_but_never_110_or_112(snapshot: Snapshot, berlin: Account) -> None:
    a = suspend(berlin, "network_integrity", "SIP flood from 203.0.113.9", 1, OP).account
    assert a.suspension is not None and a.suspension.by == OP
    compiled = compile_account(snapshot, a.policy())
    d = decide(snapshot, Call(to="+49 30 1234567"), compiled)
    assert (d.verdict, d.reason, d.sip and d.sip.status) == ("block", "account_suspended", 403)
    for emergency in ("110", "112"):
        assert decide(snapshot, Call(to=emergency), compiled).verdict == "emergency"
    with pytest.raises(CustomerError, match="suspended already"):
        suspend(a, "fraud_suspected", "", 2, OP)
    b = resume(a, 3, OP).account
    assert b.suspension is None
    assert (
        decide(snapshot, Call(to="+49 30 1234567"), compile_account(snapshot, b.policy())).verdict
        == "allow"
    )


def test_only_active_numbers_are_presented(snapshot: Snapshot, berlin: Account) -> None:
    """The spoofing reproduction at the policy level: an ordered, a ported-out and a
    foreign number all give the NPN; the extension map presents its active number."""
    a = berlin
    for n in ("+49 30 1111111", "+49 30 2222222", "+49 30 3333333"):
        a = assign(a, n, None, 0, OP).account
    a = activate(a, "49301111111", 1, OP, PROOF).account
    a = activate(a, "49302222222", 1, OP, PROOF).account
    a = set_npn(a, "+49 30 1111111", 2, OP).account
    a = set_presentation(a, {"201": "+49 30 2222222"}, 3, "key_admin").account
    c = compile_account(snapshot, a.policy())

    def shown(from_number: str) -> tuple[str, str] | None:
        d = decide(snapshot, Call(to="+49 89 1234567", from_number=from_number), c)
        return (d.identity.number, d.identity.source) if d.identity else None

    assert shown("+49 30 2222222") == ("49302222222", "upn")
    assert shown("201") == ("49302222222", "upn")
    assert shown("+49 30 3333333") == ("49301111111", "npn")  # ordered, not active
    assert shown("+49 40 1234567") == ("49301111111", "npn")  # not the account's
    out = port_out(a, "49302222222", 4, OP).account
    c2 = compile_account(snapshot, out.policy())
    d = decide(snapshot, Call(to="+49 89 1234567", from_number="201"), c2)
    assert d.identity is not None and d.identity.source == "npn"


def test_an_npn_that_is_not_active_is_never_presented(snapshot: Snapshot) -> None:
    # A record written before the life cycle (or by a bug): its NPN is held by nothing.
    policy = Account(id="old", npn="4940123456").policy()
    assert policy.npn == "" and isinstance(policy, AccountPolicy)
