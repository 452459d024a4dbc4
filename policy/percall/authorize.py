"""decide(): one call attempt in, one Decision out, from the compiled snapshot only.

This is the per-call path. It never enters the rules engine and never raises for bad
input: a dial string that is not a number is a ``reject`` Decision. Precedence is not
coded here; it was decided by the engine at compile time and is read from the table.
"""

from __future__ import annotations

from policy.compiler.compile import COMBOS, SUSPENDED, Snapshot
from policy.percall.account import CompiledAccount
from policy.percall.numbers import NumberError, canonical
from policy.percall.reasons import sip_answer
from policy.rules.model import Call, Carrier, Decision, EmergencyArea, Identity

__all__ = ["decide", "emergency_routes", "identity_for", "refused"]

_REFUSED = {
    reason: Decision("reject", reason, None, sip_answer(reason))
    for reason in ("invalid_number", "incomplete_number", "carrier_selection")
}


def refused(error: NumberError) -> Decision:
    """The Decision for a dial string that is not a callable number."""
    return _REFUSED.get(error.reason) or Decision(
        "reject", error.reason, None, sip_answer(error.reason)
    )


def identity_for(
    snapshot: Snapshot, account: CompiledAccount, from_number: str, carrier: Carrier
) -> Identity | None:
    """UPN or NPN (clause 9.6, § 120 (2) TKG).

    The UPN is presented only when the route's carrier carries UPNs, the number belongs to
    the account, and its class may be presented (German, not 0900/0137/118xx/short codes);
    otherwise the NPN (the account's main number) is.
    """
    if from_number and carrier.carries_upn:
        # An extension the customer mapped to one of its numbers presents that number.
        candidate = account.presentation.get(from_number, from_number)
        try:
            upn = canonical(candidate, account.area_code)
        except NumberError:
            return account.npn
        if (
            upn in account.own_numbers
            and snapshot.classes[snapshot.trie.lookup(upn)].presentable
            and (account.npn is None or upn != account.npn.number)
        ):
            return Identity(upn, "upn")
    return account.npn


def emergency_routes(area: EmergencyArea, digits: str) -> tuple[str, str] | None:
    """(routing number, fallback routing number) of ``area`` for the dialled ``digits``.

    Clause 9.3, TR Notruf: 110 (police) and 112 (fire, ambulance) each have their own
    routing number and fallback per emergency origin area, chosen by the number dialled.
    Any other number is not an emergency number: None.
    """
    if digits == "49110":
        return area.routing_110, area.fallback_110
    if digits == "49112":
        return area.routing_112, area.fallback_112
    return None


def decide(snapshot: Snapshot, call: Call, account: CompiledAccount) -> Decision:
    """Decide one call attempt of ``account`` (compiled against ``snapshot``)."""
    try:
        digits = canonical(call.to, account.area_code)
    except NumberError as exc:
        return refused(exc)
    cls = snapshot.trie.lookup(digits)
    c = snapshot.classes[cls]
    i = cls * COMBOS
    if account.suspended:
        i += SUSPENDED
    n = len(digits)
    if n < c.min_digits:
        i += 4
    elif n > c.max_digits:
        i += 8
    prefixes = account.blocked_prefixes
    if cls in account.blocked_classes or (prefixes is not None and prefixes.lookup(digits) >= 0):
        i += 2
    if cls in account.lifted_classes:
        i += 1
    t = snapshot.table[i]
    verdict = t.verdict
    if verdict == "allow":
        carrier = snapshot.carriers[c.carrier]
        identity = identity_for(snapshot, account, call.from_number, carrier)
        return Decision("allow", t.reason, t.rule, None, c.carrier, identity, digits, t.category)
    if verdict == "emergency":
        # Clause 9.3: 110 and 112 have separate routing numbers per emergency origin area;
        # the NPN is always sent towards the PSAP (NotrufV), whatever the customer asked.
        # The site's area is unknown when no site was declared or its municipality is in
        # no area (customer.py then stores default_area): compile_account gave such an
        # account the default area, whose routing and fallback numbers route the call.
        # The fallback travels with the Decision: the edge tries it when the first PSAP
        # refuses or does not answer (sip_edge/README.md, "emergency").
        routes = emergency_routes(account.emergency_area, digits)
        if routes is None:
            # Never routed as 112 by default: load.py refuses an emergency category with
            # numbers other than 110 and 112, and should one get here it is no number.
            sip = sip_answer("invalid_number")
            return Decision("reject", "invalid_number", t.rule, sip, "", None, digits, t.category)
        route, fallback = routes
        return Decision(
            "emergency", t.reason, t.rule, None, route, account.npn, digits, t.category, fallback
        )
    return Decision(verdict, t.reason, t.rule, t.sip, "", None, digits, t.category)
