"""The core's fast paths: the refused INVITE and the relayed message, from a light C
scan of the datagram instead of a ``Message``.

Each takes only the plain case and returns False before any effect otherwise; the full
path (the rest of the core) is the reference. ``tests/sip/test_refuse_fast.py`` and
``tests/sip/test_relay_fast.py`` hold the two paths to the same answers, output,
counters, limits and state.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from policy import Account, AccountError, Call
from sip_edge.wire.message import (
    Relay,
    SipParseError,
    SipTransactionError,
    parse_name_addr,
    response_from,
    scan_head,
    scan_relay,
    scan_via,
    uri_user,
)

from .branching import MAGIC
from .dialogs import Dialogs
from .refusals import Refusals
from .responses import Responses, _via_dest
from .settings import Addr, Peer
from .splice import respelled, span_order, splice, spliced_upstream, stamped
from .state import _Refusal

#: Entries of the refusal cache before it is emptied (dialled numbers are unbounded).
_REFUSALS_MAX = 16_384

#: Longest Request-URI the refusal fast path reads off a start line.
_URI_MAX = 512

#: Not in the refusal cache (None there means: the policy lets the call through).
_UNSEEN: Any = object()

_ViaParts = tuple[str, str, int | None, dict[str, str]]


class FastPaths(Refusals, Responses, Dialogs):
    """``_refuse_fast`` and ``_relay_fast``, and what only they use."""

    # --- the refusal fast path -----------------------------------------------------------

    def _refuse_fast(self, data: bytes, addr: Addr, peer: Peer, now: float) -> bool:
        """A trunk's INVITE that the policy refuses, answered from a light scan
        (``scan_head``) without building a Message. True: handled. (The ACK of the
        refusal is the relay's, ``_relay_fast``.)

        It takes only the plain case: anything else (a retransmission, a tag in To, our
        own Via, Max-Forwards 0, an unknown or suspended account, a call the policy lets
        through or routes as an emergency, a message the light scan does not take)
        returns False before any effect, and the full path, which is the
        reference, handles it. ``tests/sip/test_refuse_fast.py`` holds the two paths to
        the same answers, counters and limits.
        """
        account = self.accounts.get(peer.name)
        if account is None or account.dialer_flag == "suspend":
            return False
        # The dialled number off the start line (scan_head takes only "INVITE uri ..."),
        # so that a number the refusal cache already lets through costs no scan.
        end = data.find(b" ", 7, 7 + _URI_MAX) if data.startswith(b"INVITE ") else -1
        if end < 0:
            return False
        uri = data[7:end].decode("latin-1")
        user = uri_user(uri) or uri
        cached = self._refusals.get((account.id, account.version, user), _UNSEEN)
        if cached is None:
            return False
        head = scan_head(data, self.settings.max_message_bytes)
        if head is None:
            return False
        echoed, top, to, call_id, mf = (
            head.echoed,
            head.top_via,
            head.to,
            head.call_id,
            head.max_forwards,
        )
        via = scan_via(top[2])
        if via is None or (mf is not None and int(mf) == 0):
            return False
        params = via[3]
        key = (params.get("branch", ""), call_id or "")
        if self._was_answered(key) or key in self._server or not self._initial(echoed, to):
            return False
        refusal = self._refusal(account, user) if cached is _UNSEEN else cached
        if refusal is None:
            return False
        if self.limits.admit(account.id, account.dialer_flag, now) is not None:
            refusal = self._dialer
        self.stats[refusal.counter] += 1
        top[2] = stamped(top[2], via[1], params, addr)
        extra = self._logged(refusal, user, now, account.id)
        answer = response_from(echoed, to or "", refusal.status, refusal.phrase, self._tag(), extra)
        self._remember_refusal(key, answer, addr, now)
        self._send(answer, addr)
        return True

    def _initial(self, echoed: list[list[str]], to: str | None) -> bool:
        """No tag in To (an initial request), and none of our Vias (the loop check, 482,
        is the full path's)."""
        token = self._via_host
        for entry in echoed:
            if entry[0] == "via" and token in entry[2]:
                return False
        try:
            return not parse_name_addr(to or "").tag
        except SipParseError:
            return False

    def _refusal(self, account: Account, user: str) -> _Refusal | None:
        """How the policy refuses ``user`` for ``account`` (cached), None: it does not."""
        key = (account.id, account.version, user)
        refusals = self._refusals
        if key in refusals:
            return refusals[key]
        try:
            decision = self.policy.decide(account, Call(to=user))
        except AccountError:
            return None  # the full path counts it and routes what it still must
        refusal = None
        if decision.verdict not in ("allow", "emergency"):
            refusal = _Refusal.of_decision(decision)
        if len(refusals) >= _REFUSALS_MAX:
            refusals.clear()
        refusals[key] = refusal
        return refusal

    # --- the relay fast path -----------------------------------------------------------

    def _relay_fast(self, data: bytes, addr: Addr, peer: Peer, now: float) -> bool:
        """A response to a request we forwarded, or a request inside a dialog (ACK, BYE
        ...), relayed by splicing the lines that change into the bytes as received
        (``scan_relay``) instead of building a Message and writing it again. True: handled.

        The same contract as ``_refuse_fast``: only messages in canonical form (their bytes
        are what ``Message.serialize`` writes of their parse, so the splice is what the
        full path sends) and only the plain cases; anything else returns False before any
        effect, and the full path, the reference, handles it.
        ``tests/sip/test_relay_fast.py`` holds the two paths to the same output and state.
        """
        scanned = scan_relay(data, self.settings.max_message_bytes)
        if scanned is None:
            return False
        via = scan_via(scanned.vias[0].value)
        if via is None:
            return False  # the full parse reads this top Via with the reference parser
        if scanned.status:
            return self._respond_fast(data, scanned, via, now)
        return self._in_dialog_fast(data, scanned, via, addr, now)

    def _respond_fast(self, data: bytes, scanned: Relay, via: _ViaParts, now: float) -> bool:
        """``_on_response`` on a scanned response."""
        status, to, from_, vias = scanned.status, scanned.to, scanned.from_, scanned.vias
        branch = via[3].get("branch", "")
        if (via[1], via[2]) not in self._own or not branch.startswith(MAGIC) or from_ is None:
            return False  # counted and dropped by the full path
        method = scanned.cseq.partition(" ")[2].strip()
        call = self._clients.get(branch)
        if call is not None and call.owned:
            self._adopt(call)  # the answers the plane relayed first, in order
            call = self._clients.get(branch)
        if method == "INVITE" and (call is not None or branch in self._late):
            as_sent = partial(spliced_upstream, data, scanned.first_header, from_, vias)
            if call is not None:
                self._invite_response(call, status, to, as_sent, now)
            else:
                self._after_2xx(self._late[branch], status, as_sent)
        elif call is not None and method == "CANCEL":
            call.client.cancel_answered()
        else:
            if branch in self._retired:
                return False  # a branch an emergency call left: the full path's (_on_retired)
            # Stateless (16.7, 18.2.2): our Via off, to the next one.
            nxt = scan_via(vias[1].value) if len(vias) > 1 else None
            if nxt is None:
                return False
            dest = _via_dest(nxt[1], nxt[2], nxt[3])
            if dest[0] not in self._dests:
                return False
            self.stats["response_stateless"] += 1
            self._send(data[: vias[0].start] + data[vias[0].end :], dest)
        return True

    def _in_dialog_fast(
        self, data: bytes, scanned: Relay, via: _ViaParts, addr: Addr, now: float
    ) -> bool:
        """``_on_request`` on a scanned request inside a dialog: ``_in_dialog``, or the
        ACK of our own refusal absorbed."""
        method, uri, to, call_id = scanned.method, scanned.uri, scanned.to, scanned.call_id
        mf, from_, vias, routes = scanned.max_forwards, scanned.from_, scanned.vias, scanned.routes
        host, params = via[1], via[3]
        if method == "ACK":
            key = (params.get("branch", ""), call_id)
            if self._was_answered(key):
                self.stats["ack_absorbed"] += 1  # ACK of our own refusal (RFC 3261 8.2.7)
                return True
            if key in self._server:
                return False  # maybe the ACK of a non-2xx, hop by hop: the full path's
        elif method == "CANCEL":
            return False
        else:
            token = self._via_host
            for span in vias:
                if token in span.value:
                    return False  # the loop check (482) is the full path's
            try:
                if not parse_name_addr(to).tag:
                    return False  # not inside a dialog
            except SipParseError:
                return False
        if mf is None:
            return False  # the full path adds one
        try:
            dest = self._next_hop([r.value for r in routes], uri, mf.value)
        except (SipParseError, SipTransactionError):
            return False
        if dest is None:
            return False
        top = vias[0]
        top_value = stamped(top.value, host, params, addr)
        from_value = from_.value if from_ is not None else None
        loop_hash = self._loop_hash_of(from_value, call_id, scanned.cseq, uri)
        ours = self._dialog_via(params.get("branch", ""), loop_hash)
        self._count_in_dialog(method)
        self._site_bye(method, call_id, from_value, to)
        edits = [
            (top.start, top.start, f"Via: {ours}\r\n".encode("latin-1")),
            respelled(data, top, top_value),
            respelled(data, mf, str(int(mf.value) - 1)),
            (routes[0].start, routes[0].end, b""),
        ]
        edits.sort(key=span_order)
        self._send(splice(data, edits), dest)
        return True
