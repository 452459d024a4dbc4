"""A call the core forwarded stays the core's when the rules change under it.

The plane decides an INVITE from the rules of now; a retransmission of an INVITE the core
forwarded before a change that now blocks the number belongs to its server transaction
(RFC 3261 17.2.1: answered with the last provisional, not decided again). The core tells
the plane which transactions it holds (``EdgeCore.elsewhere.hold``), and the twins agree.
"""

from __future__ import annotations

from policy.percall.runtime import PolicyRuntime

from .conftest import acme, invite
from .test_plane import Twins


def test_a_retransmission_of_a_forwarded_call_is_its_transactions(
    runtime: PolicyRuntime,
) -> None:
    t = Twins(runtime)
    data = invite(to="+4930555000")
    sent = t.send(data)  # forwarded by the core: 100 Trying and the INVITE to the carrier
    assert [d.split(b" ", 2)[1] for d in sent][:1] == [b"100"]
    # The account now blocks Germany's +4930 range: a new call there is refused in C ...
    t.each(lambda e: e.core.set_account(acme(version=2, blocked_prefixes=("4930",))))
    (refused,) = t.send(invite(to="+4930555001", branch="z9hG4bK-new", call_id="other"))
    assert refused.startswith(b"SIP/2.0 403 ")
    handled = t.handled
    # ... but the first call's retransmission is its transaction's: 100 again, not a 403.
    (again,) = t.send(data)
    assert again.startswith(b"SIP/2.0 100 ")
    assert t.handled == handled
