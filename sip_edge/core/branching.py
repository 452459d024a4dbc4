"""Branches of the edge's Vias and loop detection (RFC 3261 16.6 step 8, 16.3 step 4).

Every branch the edge writes is ``MAGIC``, a keyed hash of what identifies the request
(From tag, Call-ID, CSeq number, Request-URI as received), a dot and a suffix: a request
that comes back carrying our Via with the branch it would get again is a loop (482).
"""

from __future__ import annotations

import hashlib

from sip_edge.wire.message import (
    Message,
    SipParseError,
    SipTransactionError,
    parse_name_addr,
    parse_via,
)

from .state import CoreState

#: Branch prefix of every Via this edge writes (RFC 3261 8.1.1.7 magic cookie + ours).
MAGIC = "z9hG4bKcpe"


class Branching(CoreState):
    """Branches, the loop hash in them and the loop check."""

    def _suffix(self) -> str:
        return f"{self.settings.instance}{next(self._ids):x}"

    def _loop_hash(self, msg: Message) -> str:
        """RFC 3261 16.6 step 8: the part of our branch that detects loops (no Via in it)."""
        return self._loop_hash_of(msg.get("from"), msg.get("call-id"), msg.get("cseq"), msg.uri)

    def _loop_hash_of(
        self, from_: str | None, call_id: str | None, cseq: str | None, uri: str
    ) -> str:
        """:meth:`_loop_hash` of a request's From, Call-ID, CSeq and Request-URI values."""
        try:
            from_tag = parse_name_addr(from_ or "").tag
        except SipParseError:
            from_tag = ""
        num = (cseq or "").split(" ", 1)[0]
        text = f"{from_tag}|{call_id}|{num}|{uri}"
        return hashlib.blake2b(
            text.encode("latin-1"), digest_size=6, key=self.settings.secret
        ).hexdigest()

    def _branch(self, msg: Message, suffix: str) -> str:
        return f"{MAGIC}{self._loop_hash(msg)}.{suffix}"

    def _dialog_via(self, top_branch: str, loop_hash: str) -> str:
        """Our Via on a request forwarded statelessly inside a dialog (RFC 3261 16.11): the
        same branch for every retransmission, as the top branch it came with decides."""
        suffix = hashlib.blake2b(top_branch.encode("latin-1"), digest_size=4).hexdigest()
        return f"SIP/2.0/UDP {self._via_host};branch={MAGIC}{loop_hash}.{suffix};rport"

    def _check_loop(self, msg: Message) -> None:
        """RFC 3261 16.3 step 4: our Via with the branch this request would get -> 482."""
        token = self._via_host
        vias = [v for v in msg.get_all("via") if token in v]
        if not vias:
            return
        prefix = f"{MAGIC}{self._loop_hash(msg)}."
        for value in vias:
            via = parse_via(value)
            if (via.host, via.port) in self._own and via.branch.startswith(prefix):
                self.stats["loop_detected"] += 1
                raise SipTransactionError("Loop Detected", 482)
