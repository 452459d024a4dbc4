"""End to end: the operator's numbers (issue 10) through ``python -m sip_edge``, with sipp.

Caller identity (clause 9.6, § 120 (2) TKG): a Berlin account may present as UPN only a
number it holds in the ``active`` state (or one its ``presentation`` maps an extension
to). A number it does not hold (Hamburg), one only ``ordered``, or one ``porting_out``
is never shown: the carrier gets the NPN instead, whether the PBX names the number in
From or in P-Preferred-Identity. The national carrier (rules/carriers.toml
``identity_header = "from"``) carries the presented number in From and the NPN in
P-Asserted-Identity; the international one carries UPNs not at all. The sipp UAS playing
the carrier checks both headers with ``<ereg check_it="true">`` and that the claimed
number appears nowhere in the INVITE (``check_it_inverse``).

Suspension (clause 1): a suspended account's calls are refused by the edge with 403 and
a Reason naming ``account_suspended``, while 110 and 112 still reach the PSAP (a sipp
UAS) and are answered (clause 9.3).

The accounts are built with ``policy.state.lifecycle`` (assign, port_out, set_presentation,
suspend) and stored before the edge starts. Every sipp run is bounded; no timing is
asserted.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import msgspec
import pytest

from policy import Account, assign, port_out, set_presentation, suspend

from .conftest import NPN, OWN, acme
from .test_sipp import (
    SIPP,
    Edge,
    _start_edge,
    carried,
    ereg,
    finish,
    refused,
    scenario,
    uac,
    uas,
)

pytestmark = pytest.mark.skipif(
    SIPP is None, reason="sipp binary not found (Debian package sip-tester; CI installs it)"
)

#: An active own number that extension 201 presents (set_presentation).
MAPPED = "493012345004"
#: An own number on order: assigned by the operator, not active yet.
ORDERED = "493012345002"
#: An own number the customer is taking to another provider: ``porting_out``.
PORTED = "493012345003"
#: A Hamburg number the Berlin account does not hold at all.
HAMBURG = "494012345678"

#: A national destination (carrier-de, carries UPNs, identity in From) and an
#: international one (carrier-intl, no UPNs, identity in P-Asserted-Identity).
NATIONAL = "+4930555000"
FOREIGN = "+33123456789"

#: test-berlin-mitte (the acme site) in rules/emergency.toml.
ROUTE_112, ROUTE_110 = "4911203001", "4911003001"


def numbers_account() -> Account:
    """acme with NPN and OWN active, MAPPED active and presented for extension 201,
    ORDERED ordered and PORTED porting out; extension 202 still maps to PORTED, as a
    record written before the port-out would (port_out drops such entries itself)."""
    account = acme(numbers=(OWN, MAPPED, PORTED))
    account = assign(account, f"+{ORDERED}", None, 10.0, "op-test").account
    account = set_presentation(
        account, {"201": f"+{MAPPED}", "202": f"+{PORTED}"}, 11.0, "acme-admin"
    ).account
    account = port_out(account, PORTED, 12.0, "op-test").account
    account = msgspec.structs.replace(account, presentation={**account.presentation, "202": PORTED})
    states = {h.first: h.state for h in account.holdings}
    assert states == {
        NPN: "active",
        OWN: "active",
        MAPPED: "active",
        ORDERED: "ordered",
        PORTED: "porting_out",
    }, states
    assert account.presentation == {"201": MAPPED, "202": PORTED}
    return account


@pytest.fixture(scope="module")
def numbers_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    """The edge with ``numbers_account()`` on trunk 127.0.0.2."""
    yield from _start_edge(tmp_path_factory.mktemp("edge-numbers"), 1, account=numbers_account())


@pytest.fixture(scope="module")
def suspended_edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    """The edge with acme suspended by the operator (clause 1)."""
    account = suspend(acme(), "fraud_suspected", "e2e test", 20.0, "op-test").account
    assert account.suspension is not None
    yield from _start_edge(tmp_path_factory.mktemp("edge-suspended"), 1, account=account)


def placed(
    edge: Edge,
    answering: subprocess.Popen[bytes],
    service: str,
    from_user: str,
    ppi: str | None = None,
) -> None:
    """One call through the edge to the sipp UAS ``answering``, its number named in From
    (or, given ``ppi``, in a P-Preferred-Identity); both sipps must pass."""
    if ppi is None:
        carried(edge, answering, service, from_user)
        return
    xml = scenario(edge, "uac_call_ppi.xml")
    keys = ["-key", "from", from_user, "-key", "ppi", ppi, "-key", "privacy", "none"]
    done = uac(edge, xml, service, "127.0.0.2", 1, *keys)
    if done.returncode != 0:
        answering.terminate()
    code, log = finish(answering)
    assert done.returncode == 0, f"the calling sipp failed:\n{done.stdout.decode()[-3000:]}"
    assert code == 0, f"the answering sipp failed:\n{log}"


def presented(number: str, asserted: str = NPN) -> list[str]:
    """The national carrier's checks: ``number`` in From, ``asserted`` in PAI, once."""
    return [
        ereg(rf"<sip:\+{number}@127\.0\.0\.1;user=phone>", "From:"),
        ereg(rf"^ *<sip:\+{asserted}@127\.0\.0\.1;user=phone> *$", "P-Asserted-Identity:"),
        ereg("P-Preferred-Identity:", inverse=True),
    ]


SPOOFED = [
    pytest.param(HAMBURG, id="not-held-hamburg"),
    pytest.param(ORDERED, id="own-but-ordered"),
    pytest.param(PORTED, id="own-but-porting-out"),
]


# --- caller identity (clause 9.6) --------------------------------------------------


@pytest.mark.parametrize("claimed", SPOOFED)
@pytest.mark.parametrize("where", ["from", "p-preferred-identity"])
def test_a_number_not_active_here_is_not_presented_the_npn_is(
    numbers_edge: Edge, claimed: str, where: str
) -> None:
    """Issue 10's spoofing regression: only active numbers are the account's to show."""
    edge = numbers_edge
    checks = [*presented(NPN), ereg(claimed, inverse=True)]
    carrier = uas(edge, edge.carrier_de, checks)
    if where == "from":
        placed(edge, carrier, NATIONAL, f"+{claimed}")
    else:  # From names an extension without a mapping: the PPI is the UPN candidate
        placed(edge, carrier, NATIONAL, "200", ppi=f"+{claimed}")


def test_a_stale_extension_mapping_to_a_ported_out_number_presents_the_npn(
    numbers_edge: Edge,
) -> None:
    edge = numbers_edge
    carrier = uas(edge, edge.carrier_de, [*presented(NPN), ereg(PORTED, inverse=True)])
    placed(edge, carrier, NATIONAL, "202")


@pytest.mark.parametrize("claimed", [HAMBURG, ORDERED, PORTED])
def test_the_international_carrier_gets_the_npn_for_a_claimed_number(
    numbers_edge: Edge, claimed: str
) -> None:
    """carrier-intl carries no UPN; its identity header is P-Asserted-Identity."""
    edge = numbers_edge
    checks = [
        ereg(rf"^ *<sip:\+{NPN}@127\.0\.0\.1;user=phone> *$", "P-Asserted-Identity:"),
        ereg(rf"<sip:\+{NPN}@127\.0\.0\.1;user=phone>", "From:"),
        ereg(claimed, inverse=True),
    ]
    carrier = uas(edge, edge.carrier_intl, checks)
    placed(edge, carrier, FOREIGN, "200", ppi=f"+{claimed}")


@pytest.mark.parametrize("where", ["from", "p-preferred-identity"])
def test_an_active_own_number_is_presented_as_upn(numbers_edge: Edge, where: str) -> None:
    """Positive control: the same path shows an active own number."""
    edge = numbers_edge
    carrier = uas(edge, edge.carrier_de, presented(OWN))
    if where == "from":
        placed(edge, carrier, NATIONAL, f"+{OWN}")
    else:
        placed(edge, carrier, NATIONAL, "200", ppi=f"+{OWN}")


def test_an_extension_presents_the_number_mapped_to_it(numbers_edge: Edge) -> None:
    """Positive control: From user 201 shows the active number ``presentation`` maps."""
    edge = numbers_edge
    carrier = uas(edge, edge.carrier_de, presented(MAPPED))
    placed(edge, carrier, NATIONAL, "201")


# --- suspension (clause 1); 110/112 go on (clause 9.3) -------------------------------


@pytest.mark.parametrize("service", [NATIONAL, "030555000", "+4915112345678"])
def test_a_suspended_accounts_call_is_refused_403_account_suspended(
    suspended_edge: Edge, service: str
) -> None:
    refused(
        suspended_edge,
        service,
        403,
        [ereg(r'^ *Q\.850;cause=21;text="account_suspended', "Reason:")],
    )


@pytest.mark.parametrize(("service", "route"), [("112", ROUTE_112), ("110", ROUTE_110)])
def test_a_suspended_accounts_emergency_call_reaches_the_psap(
    suspended_edge: Edge, service: str, route: str
) -> None:
    edge = suspended_edge
    psap = uas(
        edge,
        edge.psap,
        [
            ereg(rf"^INVITE sip:{route}@127\.0\.0\.1:[0-9]+ SIP/2\.0"),
            ereg(rf"sip:\+{NPN}@", "From:"),
            ereg(rf"sip:\+{NPN}@", "P-Asserted-Identity:"),
            ereg(r'address="Unter den Linden 1, 10117 Berlin"', "Geolocation:"),
        ],
    )
    carried(edge, psap, service, f"+{OWN}")
