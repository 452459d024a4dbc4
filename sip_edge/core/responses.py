"""The client side of the core: responses to what it forwarded, its timers, and the
emergency fallback (RFC 3261 16.7, 17.1; clause 9.3).

A response to a forwarded INVITE goes through its client transaction and, as the
server transaction allows, upstream with the customer's own Vias and From; other
responses go statelessly to the next Via. Timers B/C end a call in a 408 or send an
emergency call on to its fallback routing number.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from sip_edge.wire.message import Message, is_digits, parse_via, response_bytes

from .branching import MAGIC, Branching
from .settings import Addr, Peer
from .splice import ack_bytes, as_sent_upstream
from .state import _Call, _expire
from .transaction import ACK, ACK_FORWARD, DROP, ClientInvite, ServerInvite

#: Writes a response to a forwarded INVITE as it goes upstream, given the INVITE as
#: received: the full path's ``as_sent_upstream`` or the relay's ``spliced_upstream``.
_AsSent = Callable[[Message], bytes]


class Responses(Branching):
    """Responses, client transactions and their timers, the emergency fallback."""

    def _on_response(self, msg: Message, peer: Peer, now: float) -> None:
        top = msg.top_via()
        if (top.host, top.port) not in self._own or not top.branch.startswith(MAGIC):
            self.stats["response_not_ours"] += 1
            return
        call = self._clients.get(top.branch)
        if call is not None and call.owned:
            self._adopt(call)
            call = self._clients.get(top.branch)
        method = msg.cseq()[1]
        if call is not None and method == "CANCEL":
            call.client.cancel_answered()
        elif call is not None and method == "INVITE":
            as_sent = partial(as_sent_upstream, msg)
            self._invite_response(call, msg.status, msg.get("to") or "", as_sent, now)
        elif method == "INVITE" and top.branch in self._late:
            self._after_2xx(self._late[top.branch], msg.status, partial(as_sent_upstream, msg))
        elif not (top.branch in self._retired and self._on_retired(msg, method, top.branch)):
            self._forward_stateless(msg)

    # --- answers a data plane relayed (sip_edge/fast/owned.c) ---------------------------

    def _adopt(self, call: _Call, keep: bool = False) -> None:
        """Bring ``call``'s transactions up to date with the answers the data plane relayed
        for it; ``keep``: the plane goes on relaying them (a timer only looks), else the
        core takes the call back (it is about to act on it)."""
        if not call.owned or self.elsewhere is None:
            return
        events, call.owned, ended = self.elsewhere.sync(
            call.server.key[1], call.client.branch, keep
        )
        call.ended_elsewhere = ended
        self._replay(call.client.branch, events)

    def _replay(self, branch: str, events: list[tuple[int, float, bytes]]) -> None:
        """Each answer on ``branch`` as ``_respond_fast`` handles it, at the time it came,
        without sending anything: the plane sent exactly this already."""
        if not events:
            return
        sent = len(self._out)
        for status, at, data in events:
            as_sent: _AsSent = partial(_as_relayed, data)
            call = self._clients.get(branch)
            if call is not None:
                self._invite_response(call, status, "", as_sent, at)
            elif branch in self._late:
                self._after_2xx(self._late[branch], status, as_sent)
        del self._out[sent:]

    def _invite_response(
        self, call: _Call, status: int, to: str, as_sent: _AsSent, now: float
    ) -> None:
        """A response to our forwarded INVITE, through its client transaction: ``to`` its
        To value, ``as_sent`` writes it as it goes upstream (given the INVITE as received).
        """
        action = call.client.on_response(status, now)
        self._arm(call.client)
        if action == DROP:
            return
        if action in (ACK, ACK_FORWARD):
            self._send_ack(call, to)
            if action == ACK:
                return
        if status == 100:
            return  # RFC 3261 16.7 step 3: 100 Trying is not forwarded (we sent our own)
        if 300 <= status < 600 and call.fallback and self._fallback(call, now):
            return  # an emergency call goes on to its fallback; this answer stays here
        data = as_sent(call.upstream)
        server = call.server
        if server.state == "proceeding":
            server.respond(data, status, now)
            self._arm(server)
            self._send(data, server.addr)
        elif status < 300:
            self._send(data, server.addr)  # a 2xx after our 408 (16.7 step 5: forwarded)
        if 200 <= status < 300:
            self._remember_answered(call, now)
        if status >= 200:
            self._site_final(call, status)
            self._final(call)
        elif call.client.cancel_pending:
            self._send_cancel(call, now)

    def _remember_answered(self, call: _Call, now: float) -> None:
        """Keep what late responses need for Timer L (64*T1), and nothing more: the
        forwarded INVITE and the client transaction go (a 2xx holds them no longer)."""
        late = self._late
        _expire(late, now)
        until = now + 64 * self.settings.timers.t1
        late[call.client.branch] = (until, call.upstream, call.server.addr)
        if len(late) > self.settings.max_transactions:
            late.popitem(last=False)

    def _after_2xx(self, late: tuple[float, Message, Addr], status: int, as_sent: _AsSent) -> None:
        """A response to an INVITE already answered 2xx (its server side in Accepted).

        RFC 6026 / RFC 3261 16.7: retransmitted 2xx and provisional responses that trail
        the 2xx (reordered on the way) are forwarded upstream, with the customer's own
        From and Vias as the rest of the call's answers; nothing is re-opened or counted.
        """
        if status >= 300 or status == 100:
            self.stats["late_response_dropped"] += 1
            return
        self.stats["late_response_forwarded"] += 1
        self._send(as_sent(late[1]), late[2])

    def _final(self, call: _Call) -> None:
        """The set-up is over: it no longer counts as in flight."""
        self._adopt(call)  # every path here took it back already; a leftover must not stay
        if not call.done:
            call.done = True
            self._pending -= 1
            if call.account is not None and not call.ended_elsewhere:
                self.limits.ended(call.account)
        self._calls.pop(call.server.key, None)
        if call.client.state == "terminated":
            self._clients.pop(call.client.branch, None)

    def _send_ack(self, call: _Call, to: str) -> None:
        """ACK a non-2xx final response, ``to`` its To (RFC 3261 17.1.1.3)."""
        self._send(ack_bytes(call.forwarded, to), call.client.dest)

    def _forward_stateless(self, msg: Message) -> None:
        """Pop our Via and send the response to the next one (RFC 3261 16.7, 18.2.2)."""
        msg.remove_first("via")
        value = msg.get("via")
        if value is None:
            self.stats["response_no_via"] += 1
            return
        via = parse_via(value)
        dest = _via_dest(via.host, via.port, via.params)
        if dest[0] not in self._dests:
            self.stats["response_unknown_destination"] += 1
            return
        self.stats["response_stateless"] += 1
        self._send(msg.serialize(), dest)

    def _send_cancel(self, call: _Call, now: float) -> None:
        fwd = call.forwarded
        top = fwd.get("via") or ""
        num = fwd.cseq()[0]
        cancel = Message(
            method="CANCEL",
            uri=fwd.uri,
            headers=[
                ["via", "Via", top],
                ["max-forwards", "Max-Forwards", "70"],
                ["from", "From", fwd.get("from") or ""],
                ["to", "To", fwd.get("to") or ""],
                ["call-id", "Call-ID", fwd.get("call-id") or ""],
                ["cseq", "CSeq", f"{num} CANCEL"],
            ],
        )
        data = cancel.serialize()
        call.client.start_cancel(data, now)
        self._arm(call.client)
        self._send(data, call.client.dest)

    def _site_final(self, call: _Call, status: int) -> None:
        """A final answer to the call's INVITE, or our 408: a 2xx keeps its hold until
        the BYE; any other answer lets it go."""
        if call.hold is not None and status >= 300:
            self.admission.release(call.hold)

    # --- emergency fallback (clause 9.3) ------------------------------------------------

    def _fallback(self, call: _Call, now: float) -> bool:
        """Send an emergency call on to its area's fallback routing number; True if sent
        (it had one left and the caller still waits).

        Clause 9.3: 110/112 must reach a PSAP. When the first routing number refuses
        the call (a final 3xx-5xx; a 6xx speaks for every location and ends the call,
        RFC 3261 16.7 step 5), does not answer (Timer B, or Timer C before any
        provisional) or cannot be reached (``unreachable``), the INVITE goes again to
        the fallback routing number at the same PSAP interface (a routing number selects
        the PSAP behind it), as a new client transaction with a new branch: a serial
        fork (RFC 3261 16.6, 16.7 step 6). The caller's server transaction stays open
        and gets the fallback's answer; the first branch's answer never goes upstream.
        One fallback per call; the caller's CANCEL clears it (``_on_cancel``).
        """
        fallback, call.fallback = call.fallback, ""
        if not fallback or call.server.state != "proceeding":
            return False
        old, fwd = call.client, call.forwarded
        psap = self.settings.psap
        # The same loop-detecting first part (16.6 step 8), a new transaction id.
        branch = old.branch[: old.branch.rindex(".") + 1] + self._suffix()
        headers = [list(h) for h in fwd.headers]
        via = next(h for h in headers if h[0] == "via")  # ours, on top (_prepare)
        via[2] = f"SIP/2.0/UDP {self._via_host};branch={branch};rport"
        uri = f"sip:{fallback}@{psap[0]}:{psap[1]}"
        msg = Message(method=fwd.method, uri=uri, headers=headers, body=fwd.body)
        data = msg.serialize()
        self._clients.pop(old.branch, None)
        self._retire(old.branch, fwd, old.dest, now)
        call.client = ClientInvite(branch, psap, data, now, self.settings.timers)
        call.forwarded = msg
        self._clients[branch] = call
        self._arm(call.client)
        self.stats["emergency_fallback"] += 1
        self._send(data, psap)
        return True

    def _retire(self, branch: str, forwarded: Message, dest: Addr, now: float) -> None:
        """Remember the branch a call left for its fallback, for 64*T1 (``_retired``)."""
        retired = self._retired
        _expire(retired, now)
        retired[branch] = (now + 64 * self.settings.timers.t1, forwarded, dest)
        if len(retired) > self.settings.max_transactions:
            retired.popitem(last=False)

    def _on_retired(self, msg: Message, method: str, branch: str) -> bool:
        """A response on a branch left for the fallback: True if it ends here.

        A final non-2xx is ACKed again (its retransmission means our ACK was lost,
        RFC 3261 17.1.1.2); provisional responses and the answer to a CANCEL are
        absorbed: the caller waits for the fallback's answer. A 2xx (the first PSAP
        answering after all, past Timer B) is not held back: False, it goes upstream by
        Via like any 2xx (16.7 step 5), and the caller's UA ends the extra dialog
        (13.2.2.4).
        """
        if method == "INVITE" and 200 <= msg.status < 300:
            return False
        _, forwarded, dest = self._retired[branch]
        if method == "INVITE" and msg.status >= 300:
            self._send(ack_bytes(forwarded, msg.get("to") or ""), dest)
        self.stats["emergency_fallback_absorbed"] += 1
        return True

    # --- timers ------------------------------------------------------------------------

    def _server_timer(self, txn: ServerInvite, now: float) -> None:
        resend, _ = txn.on_timer(now)
        if resend is not None:
            self._send(resend, txn.addr)
        if txn.state == "terminated":
            if self._server.get(txn.key) is txn:
                del self._server[txn.key]
                if self.elsewhere is not None:
                    self.elsewhere.release(txn.key)
        else:
            self._arm(txn)

    def _client_timer(self, call: _Call, now: float) -> None:
        if call.owned:
            # Its timers as the answers the plane relayed left them (a provisional stops
            # Timer A); one still due acts on the call, which is the core's from then on.
            self._adopt(call, keep=True)
            deadline = call.client.deadline
            if deadline is not None and deadline <= now:
                self._adopt(call)
        client = call.client
        for event in client.on_timer(now):
            if event == "retransmit":
                self._send(client.request, client.dest)
            elif event == "resend_cancel" and client.cancel is not None:
                self._send(client.cancel, client.dest)
            elif event == "cancel" and client.cancel is None:
                self._send_cancel(call, now)
            elif event == "timeout":
                self._timeout(call, now)
        if call.client is not client:
            return  # gone on to its fallback, whose transaction _fallback armed
        if client.state == "terminated":
            self._clients.pop(client.branch, None)
            self._final(call)
        else:
            self._arm(call.client)

    def _timeout(self, call: _Call, now: float) -> None:
        """No final response in time: 408 upstream (RFC 3261 16.7 step 6 / 16.8), unless
        an emergency call goes on to its fallback."""
        if call.fallback and self._fallback(call, now):
            return
        self.stats["timeout_408"] += 1
        self._site_final(call, 408)  # no 2xx came: the call never started
        server = call.server
        if server.state != "proceeding":
            return
        data = response_bytes(call.upstream, 408, "Request Timeout", self._tag())
        server.respond(data, 408, now)
        self._arm(server)
        self._send(data, server.addr)
        self._final(call)


def _as_relayed(data: bytes, upstream: Message) -> bytes:
    """What the data plane sent upstream (``_replay``'s ``as_sent``)."""
    return data


def _via_dest(host: str, port: int | None, params: dict[str, str]) -> Addr:
    """Where a response goes by the Via (RFC 3261 18.2.2, RFC 3581): received, rport."""
    host = params.get("received") or host
    rport = params.get("rport", "")
    return host.strip("[]"), int(rport) if is_digits(rport) else (port or 5060)
