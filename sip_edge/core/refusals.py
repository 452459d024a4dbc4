"""The edge's own refusals: answered statelessly, remembered for Timer H.

RFC 3261 8.2.7, as Kamailio's sl module: a refusal keeps no transaction and no Timer G.
For 64*T1 the edge remembers (branch, Call-ID) -> the answer (``_answered``, or a data
plane's twin, ``elsewhere``), so a retransmitted INVITE gets the same bytes again, its
ACK is absorbed and a CANCEL gets 200 without effect.
"""

from __future__ import annotations

from policy import sip_answer
from sip_edge.wire.message import CANONICAL, Message, response_bytes, uri_user

from .settings import Addr
from .state import CoreState, _expire, _Refusal


class Refusals(CoreState):
    """Refusing an INVITE, recording the decision, remembering the answer."""

    def _retransmission(self, key: tuple[str, str], now: float) -> bool:
        """An INVITE seen before: answered again as the first time (True), or not."""
        answered = self._answered_get(key)
        if answered is not None:
            if answered[0] > now:
                self.stats["invite_retransmission"] += 1
                self._send(answered[1], answered[2])
                return True
            # Past Timer H: a new attempt, decided again.
            if self._answered.pop(key, None) is None and self.elsewhere is not None:
                self.elsewhere.forget(key)
        txn = self._server.get(key)
        if txn is None:
            return False
        call = self._calls.get(key)
        if call is not None and call.owned:
            self._adopt(call)  # its last answer may be one the data plane relayed
        self.stats["invite_retransmission"] += 1
        again = txn.on_retransmission()
        if again is not None:
            self._send(again, txn.addr)
        return True

    def _answer(
        self,
        msg: Message,
        key: tuple[str, str],
        addr: Addr,
        now: float,
        refusal: _Refusal,
        account: str = "",
    ) -> None:
        """Refuse the INVITE ourselves with a final response, statelessly (``_answered``),
        and count it."""
        self.stats[refusal.counter] += 1
        extra = self._logged(refusal, uri_user(msg.uri) or msg.uri, now, account)
        data = response_bytes(msg, refusal.status, refusal.phrase, self._tag(), extra)
        self._remember_refusal(key, data, addr, now)
        self._send(data, addr)

    def _logged(
        self, refusal: _Refusal, dial: str, now: float, account: str = ""
    ) -> list[tuple[str, str]]:
        """The refusal's headers, with its decision id when decisions are recorded: the id
        travels with the answer (``Callpolicy-Decision``) and names the log line, so a
        customer's complaint about a refused call leads straight to it."""
        recorder = self.decisions
        if recorder is None:
            return refusal.extra
        decision_id = recorder.record(
            refusal.decision,
            account=account,
            dial=dial,
            revision=self.policy.snapshot.revision,
            now=now + self.wall_offset,
        )
        return [*refusal.extra, ("callpolicy-decision", decision_id)]

    def _answered_get(self, key: tuple[str, str]) -> tuple[float, bytes, Addr] | None:
        """A refusal of ours still remembered (ours, or the data plane's), None if none."""
        hit = self._answered.get(key)
        if hit is None and self.elsewhere is not None:
            hit = self.elsewhere.get(key)
        return hit

    def _was_answered(self, key: tuple[str, str]) -> bool:
        return key in self._answered or (
            self.elsewhere is not None and self.elsewhere.get(key) is not None
        )

    def _remember_refusal(self, key: tuple[str, str], data: bytes, addr: Addr, now: float) -> None:
        # One table for both paths: a data plane in front absorbs the ACK of any refusal
        # and relays every other ACK, so it must see the core's refusals too.
        if self.elsewhere is not None and self.elsewhere.remember(key, data, addr, now):
            return
        answered = self._answered
        _expire(answered, now)
        answered[key] = (now + 64 * self.settings.timers.t1, data, addr)
        if len(answered) > self.settings.max_transactions:
            # Bounded: an entry evicted early only means a retransmitted INVITE is
            # decided again and its ACK, matching nothing, is dropped.
            answered.popitem(last=False)
            self.stats["evicted"] += 1


_UNKNOWN_ACCOUNT = _Refusal.of(sip_answer("unknown_account"), "unknown_account", None)


def _rendered(refusal: _Refusal) -> tuple[bytes, bytes, str]:
    """What ``response_from`` writes of ``refusal`` around the request's own lines."""
    status = f"SIP/2.0 {refusal.status} {refusal.phrase}\r\n".encode("latin-1")
    lines = "".join(f"{CANONICAL.get(k, k.title())}: {v}\r\n" for k, v in refusal.extra)
    return status, lines.encode("latin-1"), refusal.counter
