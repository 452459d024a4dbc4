"""policy/reasons.py: each reason code's SIP status, phrase and Q.850 cause."""

from __future__ import annotations

import pytest

from policy.percall.reasons import BLOCKED, SIP_ANSWERS, sip_answer
from policy.rules.model import SipAnswer

#: RFC 3398 section 8.2.6.1, ISUP cause -> SIP status, for the causes used here.
RFC_3398 = {1: 404, 17: 486, 21: 403, 28: 484, 34: 503, 57: 403, 65: 488}


@pytest.mark.parametrize(
    ("reason", "answer"),
    [
        ("invalid_number", SipAnswer(404, "Not Found", 1)),
        ("incomplete_number", SipAnswer(484, "Address Incomplete", 28)),
        ("carrier_selection", SipAnswer(403, "Forbidden", 21)),
        ("codec_not_supported", SipAnswer(488, "Not Acceptable Here", 65)),
        # Clause 7.2: a policy refusal, never a 503 that invites a retry elsewhere.
        ("power_dialer", SipAnswer(403, "Forbidden", 21)),
        ("unknown_account", SipAnswer(403, "Forbidden", 21)),
        ("carrier_unreachable", SipAnswer(503, "Service Unavailable", 34)),
        # Clause 2: the site's own access is full; busy, never a 503 that sends the PBX
        # to another server (or takes this one out of its rotation, 112 included).
        ("site_capacity", SipAnswer(486, "Busy Here", 17)),
    ],
)
def test_reason_answers(reason: str, answer: SipAnswer) -> None:
    assert reason in SIP_ANSWERS
    assert sip_answer(reason) == answer


@pytest.mark.parametrize("reason", sorted(SIP_ANSWERS))
def test_every_status_follows_rfc_3398_for_its_cause(reason: str) -> None:
    answer = SIP_ANSWERS[reason]
    assert RFC_3398[answer.cause] == answer.status


def test_block_reasons_fall_back_to_403_call_rejected() -> None:
    assert sip_answer("premium_rate") is BLOCKED
    assert SipAnswer(403, "Forbidden", 21) == BLOCKED
