"""How each reason code is answered in SIP: status, phrase and Q.850 cause.

The edge puts the cause in a ``Reason: Q.850;cause=N;text="..."`` header (RFC 3326). The
status for each cause follows the ISUP-to-SIP mapping of RFC 3398, section 8.2.6.1:
cause 1 -> 404, 17 -> 486, 21 -> 403, 28 -> 484, 34 -> 503, 65 -> 488.
"""

from __future__ import annotations

from collections.abc import Mapping

from policy.rules.model import SipAnswer

__all__ = ["BLOCKED", "SIP_ANSWERS", "sip_answer"]

#: Cause 21 "call rejected": the network refuses the call by policy (RFC 3398: 403).
BLOCKED = SipAnswer(403, "Forbidden", 21)

SIP_ANSWERS: Mapping[str, SipAnswer] = {
    # Cause 1 "unallocated (unassigned) number" -> 404 (RFC 3398 8.2.6.1).
    "invalid_number": SipAnswer(404, "Not Found", 1),
    # Cause 28 "invalid number format (address incomplete)" -> 484.
    "incomplete_number": SipAnswer(484, "Address Incomplete", 28),
    # Call-by-call (010xy) is not a destination this network offers: refused by policy.
    "carrier_selection": BLOCKED,
    # Cause 65 "bearer capability not implemented" -> 488 (clause 2: codecs).
    "codec_not_supported": SipAnswer(488, "Not Acceptable Here", 65),
    # Clause 7.2: power dialers are not allowed. The network could carry the attempt and
    # refuses it by policy: cause 21 "call rejected" -> 403. Not 503 with a congestion
    # cause (34, 42, 47): a 503 tells the sender to retry, on another route if it has one
    # (RFC 3261 21.5.4), which multiplies exactly the attempts being refused; and the
    # edge keeps 503 + Retry-After for its own overload shedding.
    "power_dialer": BLOCKED,
    # Clause 1: the operator restricted the account's access (suspension). A refusal by
    # policy, cause 21 -> 403; never 503, which would invite retries on other routes.
    "account_suspended": BLOCKED,
    # The sending trunk has no account here: a refusal, not a fault, so cause 21 -> 403.
    # Cause 57 "bearer capability not authorized" (also 403 in RFC 3398) would say the
    # account lacks a bearer service (video, data) and point the operator at codecs.
    "unknown_account": BLOCKED,
    # The route names a carrier the edge cannot reach (no carrier, or no IP address):
    # cause 34 "no circuit/channel available" -> 503, a condition of this network that a
    # sender may route around (RFC 3261 21.5.4), unlike a refusal.
    "carrier_unreachable": SipAnswer(503, "Service Unavailable", 34),
    # Clause 2: the calls in progress at the caller's site already use its declared
    # bandwidth (rules/admission.toml). Cause 17 "user busy" -> 486: every line of the
    # customer's own access is busy, and the PBX plays busy. Not 503: a 503 sends the PBX
    # to another server (RFC 3261 21.5.4, RFC 3263), where the same access is no less
    # full, and many PBXs and SBCs take a server that answers 503 out of service for a
    # while, which would also keep the site's next 112 call from this edge.
    "site_capacity": SipAnswer(486, "Busy Here", 17),
}


def sip_answer(reason: str) -> SipAnswer:
    """The SIP answer for a refused call with ``reason``; any block reason is a 403/21."""
    return SIP_ANSWERS.get(reason, BLOCKED)
