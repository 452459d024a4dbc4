"""An initial INVITE from a customer trunk: decided by the policy once, then refused,
shed (503), or forwarded statefully to the carrier the Decision names or to the PSAP
(RFC 3261 16.6; clauses 2, 7.2, 9.3, 9.5, 9.6), holding its share of its site's
bandwidth (clause 2) while it lasts."""

from __future__ import annotations

import itertools
import math

from policy import Account, AccountError, Call, Decision, sip_answer
from sip_edge.wire.message import Message, response_bytes, uri_user

from .admission import Hold
from .branching import Branching
from .refusals import _UNKNOWN_ACCOUNT, Refusals
from .rewrite import apply_emergency, apply_identity, location_value, upn_candidate
from .settings import Addr, Peer, RulesView
from .state import _Call, _Refusal, _tag_of
from .transaction import ClientInvite, ServerInvite

_PLACEHOLDER = Account(id="edge-unknown-account", npn="4930000000")

#: Not held: the site's bandwidth is used up (``Invites._site_hold``).
_SITE_FULL = Hold(("", ""), "", 0, math.inf)

#: What a forwarded INVITE keeps of itself as received, to answer the customer.
_KEPT = frozenset(("via", "from", "to", "call-id", "cseq"))

#: Transports that retransmit themselves (RFC 3261 17.1.1.2 / 17.2.1 timers A, G: UDP only).
_RELIABLE = frozenset(("TCP", "TLS", "SCTP", "WS", "WSS"))


class Invites(Refusals, Branching):
    """The initial INVITE's full path: decision, shedding, forwarding, site admission."""

    def _on_invite(self, msg: Message, addr: Addr, peer: Peer, now: float) -> None:
        key = self._server_key(msg)
        if self._retransmission(key, now):
            return
        if peer.kind != "trunk":
            self.stats["invite_from_carrier"] += 1
            self._reply(msg, addr, 403, "Forbidden")  # the edge routes outgoing calls only
            return
        view = self._rules()
        account = self.accounts.get(peer.name)
        call = Call(to=uri_user(msg.uri) or msg.uri, from_number=upn_candidate(msg))
        decision, known = self._decide(account, call)
        emergency = decision.verdict == "emergency"
        if emergency and self._overloaded(msg, addr, True):
            return
        self._stamp_via(msg, addr)
        if emergency:
            self.stats["emergency"] += 1
            # Clauses 2, 9.3: admitted whatever its site has left, and counted there.
            bps = view.offers.check(msg.body)[1]
            hold = self._site_hold(msg, account if known else None, bps, view, now, True)
            self._forward_emergency(msg, key, addr, decision, account if known else None, now)
            self._keep_hold(key, hold)
            return
        if account is None or not known:
            self._answer(msg, key, addr, now, _UNKNOWN_ACCOUNT)
            return
        if account.dialer_flag == "suspend":
            self.limits.reject(account.id, now)
            self._answer(msg, key, addr, now, self._dialer, account.id)
            return
        if self.limits.admit(account.id, account.dialer_flag, now) is not None:
            self._answer(msg, key, addr, now, self._dialer, account.id)
            return
        if decision.verdict != "allow":
            self._answer(msg, key, addr, now, _Refusal.of_decision(decision), account.id)
            return
        acceptable, bps = view.offers.check(msg.body)  # one pass for both (clause 2)
        if not acceptable:
            self._answer(msg, key, addr, now, self._codec, account.id)
            return
        if self._overloaded(msg, addr, False):
            return
        hold = self._site_hold(msg, account, bps, view, now, False)
        if hold is _SITE_FULL:
            self._answer(msg, key, addr, now, self._site_full, account.id)
            return
        self._forward_carrier(msg, key, addr, decision, account, view, now)
        self._keep_hold(key, hold)

    def _overloaded(self, msg: Message, addr: Addr, emergency: bool) -> bool:
        """Shed a call about to be forwarded with 503 (RFC 3261 21.5.4), True if shed.

        Only calls that would hold state are shed: a refusal keeps none and costs less
        than the 503 would. Limits: the calls in flight and the transaction table, and
        ``shedding`` (the shell is behind on its socket).

        Clause 9.3 (110/112 are never blocked): an emergency call is never shed for the
        backlog or ``max_in_flight``; it may take the whole transaction table, every
        finished entry of which is evicted for it if need be. Other calls are shed while
        fewer than ``emergency_reserve`` slots would stay free, and at ``max_in_flight``;
        as the config keeps ``max_in_flight + emergency_reserve <= max_transactions``,
        calls in set-up other than emergency ones never hold the reserve, so a 110/112
        finds a slot unless ``max_transactions - max_in_flight`` emergency calls are in
        set-up at once.
        """
        settings = self.settings
        if emergency:
            over = not self._room(settings.max_transactions, True)
        else:
            over = (
                self.shedding
                or self._pending >= settings.max_in_flight
                or not self._room(settings.max_transactions - settings.emergency_reserve)
            )
        if not over:
            return False
        self.stats["overload_503"] += 1
        # The Via is not stamped yet: the answer goes to the source address anyway.
        self._reply(msg, addr, 503, "Service Unavailable", retry_after="5")
        return True

    def _decide(self, account: Account | None, call: Call) -> tuple[Decision, bool]:
        """The Decision, and whether it was made for the real account.

        An unknown or uncompilable account still gets its 110/112 routed (with the
        default emergency area): nothing blocks an emergency call (clause 9.3).
        """
        if account is not None:
            try:
                return self.policy.decide(account, call), True
            except AccountError:
                self.stats["account_error"] += 1
        return self.policy.decide(_PLACEHOLDER, Call(to=call.to)), False

    def _room(self, limit: int, whole: bool = False) -> bool:
        """Whether the transaction table holds fewer than ``limit`` entries, after
        evicting the oldest finished ones: one batch of 64, or (``whole``, for an
        emergency call) batches until the whole table was seen. Entries still
        proceeding go to the back, so the next search starts among finished ones."""
        table = self._server
        todo = len(table) if whole else 64
        while len(table) >= limit and todo > 0:
            for key in list(itertools.islice(table, min(64, todo))):
                txn = table[key]
                if txn.state == "proceeding":
                    table.move_to_end(key)
                    continue
                del table[key]
                if self.elsewhere is not None:
                    self.elsewhere.release(key)
                txn.timers.clear()
                txn.deadline = None
                self.stats["evicted"] += 1
            todo -= 64
        return len(table) < limit

    def _prepare(self, msg: Message, target: str, suffix: str) -> tuple[Message, str]:
        """Common forwarding steps (RFC 3261 16.6): copy for answers, Route, MF, RR, Via."""
        upstream = Message(
            method=msg.method, uri=msg.uri, headers=[list(h) for h in msg.headers if h[0] in _KEPT]
        )
        upstream.set_top_via(msg.get("via") or "", msg.top_via())
        branch = self._branch(msg, suffix)
        msg.uri = target
        mf = msg.get("max-forwards")
        msg.set("max-forwards", str(int(mf) - 1) if mf is not None else "69")
        msg.remove("route")  # policy routes initial INVITEs; a preloaded route steers nothing
        msg.push("record-route", self._rr)
        msg.push("via", f"SIP/2.0/UDP {self._via_host};branch={branch};rport")
        return upstream, branch

    def _start(
        self,
        msg: Message,
        upstream: Message,
        key: tuple[str, str],
        addr: Addr,
        branch: str,
        dest: Addr,
        account: str | None,
        now: float,
    ) -> None:
        data = msg.serialize()
        server = ServerInvite(key, addr, self.settings.timers, _reliable(upstream))
        trying = response_bytes(upstream, 100, "Trying")
        server.respond(trying, 100, now)
        client = ClientInvite(branch, dest, data, now, self.settings.timers)
        call = _Call(server, client, upstream, msg, account)
        self._server[key] = server
        if self.elsewhere is not None:
            self.elsewhere.hold(key)  # its retransmissions are this transaction's
        self._calls[key] = call
        self._clients[branch] = call
        self._pending += 1
        if account is not None:
            self.limits.started(account)
        self._arm(call.client)
        self._send(trying, addr)
        self._send(data, dest)
        if account is not None:
            self._hand_to_plane(call, key[1], branch, addr, account)

    def _hand_to_plane(
        self, call: _Call, call_id: str, branch: str, addr: Addr, account: str
    ) -> None:
        """Let the data plane relay a carrier's plain answers (100, 180, 200) to this call;
        they are replayed here later (Responses._adopt) and the core keeps the
        transactions. Only over UDP both ways: not when the INVITE came over TCP (a
        reliable Via), nor to a peer with a live TCP connection (answers go on it, and
        its Via may say UDP). Not emergency calls (no account): their answers may send
        them on to the fallback."""
        if self.elsewhere is None or call.server.reliable or addr in self.streams:
            return
        upstream = call.upstream
        vias = "".join(f"{h[1]}: {h[2]}\r\n" for h in upstream.headers if h[0] == "via")
        from_value = (upstream.get("from") or "").encode("latin-1")
        call.owned = self.elsewhere.own(
            call_id, branch, vias.encode("latin-1"), from_value, addr, account
        )

    def _forward_carrier(
        self,
        msg: Message,
        key: tuple[str, str],
        addr: Addr,
        decision: Decision,
        account: Account,
        view: RulesView,
        now: float,
    ) -> None:
        carrier, dest = view.carriers.get(decision.route, (None, None))
        if carrier is None or dest is None:
            sip = sip_answer("carrier_unreachable")  # 503, Q.850 34 (policy/reasons.py)
            refusal = _Refusal.of(sip, "carrier_unreachable", decision.rule, "carrier_unreachable")
            self._answer(msg, key, addr, now, refusal)
            return
        host, port = dest
        target = f"sip:+{decision.number}@{host}:{port};user=phone"
        upstream, branch = self._prepare(
            msg, target, f"{self.settings.instance}{next(self._ids):x}"
        )
        identity = decision.identity
        apply_identity(
            msg,
            identity.number if identity else None,
            account.npn or None,
            carrier.identity_header,
            self.settings.via[0],
        )
        self.stats["forwarded"] += 1
        self._start(msg, upstream, key, addr, branch, dest, account.id, now)

    def _forward_emergency(
        self,
        msg: Message,
        key: tuple[str, str],
        addr: Addr,
        decision: Decision,
        account: Account | None,
        now: float,
    ) -> None:
        psap = self.settings.psap
        target = f"sip:{decision.route}@{psap[0]}:{psap[1]}"
        upstream, branch = self._prepare(
            msg, target, f"{self.settings.instance}{next(self._ids):x}"
        )
        site = account.site if account is not None else None
        location = location_value(account.id, site) if account and site else None
        if location is None:
            self.stats["emergency_without_site"] += 1
        npn = decision.identity.number if account is not None and decision.identity else None
        apply_emergency(msg, npn, self.settings.via[0], self._rules().location_header, location)
        self._start(msg, upstream, key, addr, branch, psap, None, now)
        self._calls[key].fallback = decision.fallback  # _fallback: clause 9.3

    # --- site admission (clause 2) -------------------------------------------------------

    def _site_hold(
        self,
        msg: Message,
        account: Account | None,
        bps: int,
        view: RulesView,
        now: float,
        force: bool,
    ) -> Hold | None:
        """Take the INVITE's share of its site's bandwidth (``admission``), before it is
        forwarded: set-ups racing each other cannot overshoot the site together. ``bps``:
        the share its offer uses (``sdp.offer_share``).

        None: not counted (no account); ``_SITE_FULL``: refused, the site has no room.
        ``force`` (an emergency call): held whatever the site has left.
        """
        if account is None:
            return None
        kbps = account.site.bandwidth_kbps if account.site is not None else None
        capacity = kbps * 1000 if kbps is not None else None
        key = (msg.get("call-id") or "", _tag_of(msg.get("from")))
        until = now + view.call_timeout
        hold = self.admission.take(account.id, capacity, bps, key, now, until, force)
        if hold is None:
            return _SITE_FULL  # counted as refused_site_capacity by _answer
        if capacity is not None and self.admission.used(account.id) > capacity:
            self.stats["emergency_over_site_capacity"] += 1
        return hold

    def _keep_hold(self, key: tuple[str, str], hold: Hold | None) -> None:
        """Give the call just forwarded its hold; a call not forwarded after all (no
        carrier, say) lets it go at once."""
        if hold is None:
            return
        call = self._calls.get(key)
        if call is None:
            self.admission.release(hold)
        else:
            call.hold = hold


def _reliable(request: Message) -> bool:
    """Whether the request came over a reliable transport (its top Via's sent-protocol)."""
    return request.top_via().transport in _RELIABLE
