"""The edge's sans-IO core: datagrams and time in, datagrams, timers and effects out.

``receive(data, addr, now)`` handles one datagram; ``datagrams_to_send()`` returns what to
send; ``get_timer()`` / ``handle_timer(now)`` drive retransmissions and timeouts;
``effects()`` returns work for the shell (power-dialer escalations). No asyncio, no
socket, no clock: the shell in ``transport.py`` does the I/O (aioquic's split).

Every initial INVITE from a customer trunk is decided by the policy (clauses 2, 7.2,
9.3, 9.5, 9.6) and then answered here (reject), forwarded statefully to the carrier the
Decision names (allow) or to the PSAP (emergency, which nothing blocks). In-dialog
requests follow our Record-Route and are forwarded statelessly; responses go back along
the Via chain. Protocol errors stay inside: they become a 4xx answer or a counted drop.

``EdgeCore`` is this module's public interface and its request dispatch; the rest of it
comes from mixins of one concern each, over the state they share (``state.CoreState``):
``fastpath`` (the refusal and relay fast paths), ``invites`` (an initial INVITE's full
path), ``dialogs`` (requests inside a dialog), ``responses`` (the client side and the
timers), ``refusals`` (stateless refusals remembered for Timer H), ``branching`` (our
branches and loop detection), with ``splice`` (the bytes of relayed messages) below them.
"""

from __future__ import annotations

import heapq
import logging
import math
import re
from collections.abc import Callable, Iterator

from policy import Account, Decision
from sip_edge.wire.message import (
    Message,
    SipParseError,
    SipTransactionError,
    parse_message,
    parse_name_addr,
)

from .branching import MAGIC
from .dialogs import ALLOW
from .fastpath import FastPaths
from .invites import Invites
from .refusals import _rendered
from .settings import Addr, CoreSettings, Escalate, Peer, PolicyLike, RulesView
from .state import _Call as _Call  # re-exported: tests reach the call records through here
from .state import _expire, _Refusal
from .transaction import ServerInvite

__all__ = ["MAGIC", "CoreSettings", "EdgeCore", "Escalate", "Peer", "PolicyLike"]

log = logging.getLogger("callpolicy.sip_edge")

#: Option tags a Require of an initial INVITE or OPTIONS may name (RFC 3261 8.2.2.3): the
#: extensions the edge carries end to end untouched (reliable provisionals and PRACK,
#: session timers, Replaces, preconditions, no implicit REFER subscription, History-Info).
_OPTIONS = frozenset(("100rel", "timer", "replaces", "precondition", "norefersub", "histinfo"))
#: Option tags a Proxy-Require may name (RFC 3261 16.3 step 5): none, no proxy extension.
_PROXY_OPTIONS: frozenset[str] = frozenset()
#: A top Via an error answer can be sent for: a version, a transport, a sent-by.
_ANSWERABLE_VIA = re.compile(r"^SIP\s*/\s*[0-9]+\.[0-9]+\s*/\s*[A-Za-z]+\s+[^;\s]")

#: First bytes of a datagram that may be a keep-alive (RFC 5626: CRLF) rather than SIP.
_BLANK = frozenset((b"", b"\r", b"\n", b"\t", b" "))

#: A request handler of the dispatch tables (``EdgeCore._on_request``).
_Handler = Callable[[Message, Addr, Peer, float], None]

#: Methods whose Require the edge checks as the far end would (RFC 3261 8.2.2.3): those
#: it answers itself (OPTIONS) or carries as they are (an initial INVITE).
_ENDPOINT = frozenset(("INVITE", "OPTIONS"))


class EdgeCore(FastPaths, Invites):
    """The SIP proxy core (RFC 3261 16): one instance per worker process."""

    def __init__(self, settings: CoreSettings, policy: PolicyLike) -> None:
        """Build the core; accounts arrive through :meth:`set_account`."""
        super().__init__(settings, policy)
        # Bound once, here, so that a subclass's override of a handler is the one called.
        self._unchecked: dict[str, _Handler] = {
            "ACK": self._on_ack,
            "CANCEL": self._on_cancel,
        }
        """Dispatched before the Max-Forwards, loop and To-tag checks: an ACK gets no
        answer (one the edge cannot route is dropped, ``_on_ack``) and a CANCEL is
        matched to its INVITE (RFC 3261 9.2, 16.10)."""
        self._outside_dialog: dict[str, _Handler] = {
            "INVITE": self._on_invite,
            "OPTIONS": self._on_options,
            "BYE": self._bye_without_dialog,
        }
        """Requests without a To tag; any other method gets 405 (``_not_allowed``)."""

    # --- shell interface ---------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Calls in set-up now (forwarded INVITEs without a final answer yet)."""
        return self._pending

    def set_account(self, account: Account) -> None:
        """The account as the store has it now (applies to the next INVITE)."""
        self.accounts[account.id] = account
        self._refusals.clear()
        self.generation += 1
        if self.on_change is not None:
            self.on_change()

    def drop_account(self, account_id: str) -> None:
        """The account is gone from the store."""
        self.accounts.pop(account_id, None)
        self._refusals.clear()
        self.generation += 1
        if self.on_change is not None:
            self.on_change()

    # --- what a data plane beside the core needs (sip_edge/fast/bridge.py) ---------------

    def share_ids(self, ids: Iterator[int]) -> None:
        """Draw To tags and branches from ``ids`` (a counter shared with a data plane, so
        both paths number from one sequence)."""
        self._ids = ids

    @property
    def via_host(self) -> str:
        """The edge's Via sent-by, ``host:port``: a request carrying it loops (482)."""
        return self._via_host

    @property
    def tag_prefix(self) -> str:
        """What every To tag of the edge's own answers starts with (``_tag``)."""
        return f"cpe{self.settings.instance}x"

    def rules_view(self) -> RulesView:
        """The running rules as the core uses them (refreshed after a reload)."""
        return self._rules()

    def peers(self) -> dict[Addr, Peer]:
        """The peers known by address and port (carriers, the PSAP, trunks with a port)."""
        self._rules()
        return dict(self._peers)

    def trunk_hosts(self) -> dict[str, Peer]:
        """Trunks known by address alone (any port): looked up after :meth:`peers`."""
        return dict(self._trunk_ip)

    def dests(self) -> frozenset[str]:
        """The hosts the core sends requests and responses to (its peers' and trunks')."""
        self._rules()
        return frozenset(self._dests)

    @property
    def record_route(self) -> str:
        """The edge's Record-Route value as it writes it (a dialog's first Route)."""
        return self._rr

    def rendered(self, decision: Decision) -> tuple[bytes, bytes, str]:
        """The refusal of ``decision`` as the core writes it: its status line, the header
        lines that do not depend on the request, and its ``stats`` key."""
        return _rendered(_Refusal.of_decision(decision))

    def rendered_dialer(self) -> tuple[bytes, bytes, str]:
        """The power-dialer refusal of the running rules, as :meth:`rendered`."""
        self._rules()
        return _rendered(self._dialer)

    def rendered_dialer_decision(self) -> Decision:
        """What the decision log records of a power-dialer refusal."""
        self._rules()
        return self._dialer.decision

    def set_shedding(self, on: bool) -> None:
        """Whether new non-emergency calls are shed with 503 before they are forwarded.

        The shell's input when datagrams arrive faster than the core handles them: past
        its capacity a UDP proxy collapses through retransmissions (each unanswered
        INVITE comes back every T1, doubling), so it must refuse early and cheaply.
        """
        if on and not self.shedding:
            self.stats["shedding_started"] += 1
        self.shedding = on

    def datagrams_to_send(self) -> list[tuple[bytes, Addr]]:
        """Everything to send, in order (and forget it)."""
        out, self._out = self._out, []
        return out

    def effects(self) -> list[Escalate]:
        """Work for the shell (and forget it)."""
        out, self._effects = self._effects, []
        return out

    def adopt(self, returned: list[tuple[str, list[tuple[int, float, bytes]], bool]]) -> None:
        """Calls the data plane handed back (``Plane.take_returned``): ``(branch, the
        answers it relayed, whether it ended the set-up's power-dialer count)`` each,
        replayed through their transactions; the core's now. One that fails is counted
        and logged; the others are still taken (the plane has let them all go)."""
        for branch, events, ended in returned:
            try:
                call = self._clients.get(branch)
                if call is not None:
                    call.owned = False
                    call.ended_elsewhere = ended
                self._replay(branch, events)
            except Exception:  # last resort, as in the shell: a bug must not lose calls
                self.stats["internal_error"] += 1
                log.exception("sip_edge: internal error taking back call %s", branch)

    def sync_owned(self) -> None:
        """Every call whose answers the data plane relays brought up to date (it goes on
        relaying them): for tests and inspection."""
        for call in list(self._clients.values()):
            self._adopt(call, keep=True)

    def unreachable(self, dest: Addr, now: float) -> None:
        """``dest`` cannot be reached (an ICMP unreachable or a send error the shell saw).

        RFC 3261 8.1.3.1, 17.1.4: a transport error ends a client transaction as a 503
        would. An emergency call still waiting there for any answer goes on to its
        fallback at once (clause 9.3) instead of after Timer B; other calls keep their
        timers.
        """
        waiting = [
            call
            for call in self._clients.values()
            if call.fallback and call.client.dest == dest and call.client.state == "calling"
        ]
        for call in waiting:
            self.stats["emergency_unreachable"] += 1
            self._fallback(call, now)

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` must run next (None: no timer), on the tick grid."""
        heap = self._heap
        while heap and not self._valid(heap[0]):
            heapq.heappop(heap)
        deadline = heap[0][0] if heap else None
        window = self.limits.window_end
        if window is not None and (deadline is None or window < deadline):
            deadline = window
        tick = self.settings.timer_tick
        if deadline is None or tick <= 0:
            return deadline
        return max(deadline, math.ceil(deadline / tick) * tick)

    def handle_timer(self, now: float) -> None:
        """Run every timer due at ``now``."""
        heap = self._heap
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if not self._valid(entry):
                continue
            txn = entry[2]
            txn.pushed = None
            if isinstance(txn, ServerInvite):
                self._server_timer(txn, now)
            else:
                call = self._clients.get(txn.branch)
                if call is not None and call.client is txn:
                    self._client_timer(call, now)
        _expire(self._late, now)
        _expire(self._answered, now)
        _expire(self._retired, now)
        self.admission.expire(now)
        totals = self.limits.close_window(now)
        if totals:
            self._effects.append(Escalate(self._rules().dialer, tuple(totals)))
        if len(heap) > 4 * (len(self._server) + len(self._clients)) + 1024:
            self._heap = [e for e in heap if self._valid(e)]
            heapq.heapify(self._heap)

    def receive(self, data: bytes, addr: Addr, now: float) -> None:
        """Handle one datagram from ``addr``; protocol errors end here (answer or drop)."""
        self.stats["received"] += 1
        if data[:1] in _BLANK and not data.strip(b"\r\n\t "):
            self.stats["keepalive"] += 1  # RFC 5626 CRLF keep-alive
            return
        peer = self._peer(addr)
        if peer is None:
            self.stats["dropped_unknown_peer"] += 1
            return
        # The fast paths (each falls through to the full path below, the reference): an
        # INVITE refused, and everything relayed once a call is set up (responses, ACK,
        # BYE). A CANCEL is never relayed: it costs no scan.
        first = data[:4]
        if first == b"INVI":
            if peer.kind == "trunk" and self._refuse_fast(data, addr, peer, now):
                return
        elif first != b"CANC" and self._relay_fast(data, addr, peer, now):
            return
        try:
            msg = parse_message(data, self.settings.max_message_bytes)
        except SipParseError as exc:
            self._answer_error(exc.partial, exc.status, exc.phrase, addr)
            return
        try:
            if msg.is_request:
                self._on_request(msg, addr, peer, now)
            else:
                self._on_response(msg, peer, now)
        except (SipParseError, SipTransactionError) as exc:
            self._answer_error(msg, exc.status, exc.phrase, addr)

    def _answer_error(self, msg: Message | None, status: int, phrase: str, addr: Addr) -> None:
        """Answer a protocol error if the message allows it; otherwise drop it.

        Building the answer parses headers the failed parse may not have reached; whatever
        that raises ends here as a drop, never in the transport (style note 3).
        """
        try:
            self._bad_request(msg, status, phrase, addr)
        except (SipParseError, ValueError, KeyError, IndexError):
            self.stats["dropped_unparseable"] += 1

    def _bad_request(self, msg: Message | None, status: int, phrase: str, addr: Addr) -> None:
        """Answer 4xx/505 if the request can be answered (RFC 3261 8.2), else drop and count.

        Answerable: a request (not an ACK) whose top Via names a SIP version, a transport
        and a sent-by: the answer goes to the source address (18.2.2 with rport), and the
        Via echoed lets the sender match it. Whatever else is missing (From, To, Call-ID:
        RFC 4475 3.3.1) is what the 400 says.
        """
        self.stats[f"error_{status}"] += 1
        if msg is None or not msg.is_request or msg.method == "ACK":
            self.stats["dropped_unparseable"] += 1
            return
        if not _ANSWERABLE_VIA.match(msg.get("via") or ""):
            self.stats["dropped_unparseable"] += 1
            return
        self._reply(msg, addr, status, phrase)

    # --- requests: the dispatch --------------------------------------------------------

    def _on_request(self, msg: Message, addr: Addr, peer: Peer, now: float) -> None:
        method = msg.method
        handler = self._unchecked.get(method)
        if handler is not None:
            handler(msg, addr, peer, now)
            return
        mf = msg.get("max-forwards")
        if mf is not None and int(mf) == 0 and method != "OPTIONS":
            raise SipTransactionError("Too Many Hops", 483)
        self._check_loop(msg)
        try:
            to_tag = parse_name_addr(msg.get("to") or "").tag
        except SipParseError:
            raise SipParseError("Bad To") from None
        if to_tag:
            if self._extensions_supported(msg, addr, False):
                self._in_dialog(msg, addr, peer, now)
            return
        handler = self._outside_dialog.get(method, self._not_allowed)
        if method in _ENDPOINT and not self._extensions_supported(msg, addr, True):
            return
        handler(msg, addr, peer, now)

    def _on_options(self, msg: Message, addr: Addr, peer: Peer, now: float) -> None:
        self.stats["options"] += 1
        self._reply(msg, addr, 200, "OK", allow=ALLOW, accept="application/sdp")

    def _bye_without_dialog(self, msg: Message, addr: Addr, peer: Peer, now: float) -> None:
        raise SipTransactionError("Call/Transaction Does Not Exist", 481)

    def _not_allowed(self, msg: Message, addr: Addr, peer: Peer, now: float) -> None:
        self.stats["method_not_allowed"] += 1
        self._reply(msg, addr, 405, "Method Not Allowed", allow=ALLOW)

    def _extensions_supported(self, msg: Message, addr: Addr, endpoint: bool) -> bool:
        """RFC 3261 16.3 step 5 (Proxy-Require, every request this edge forwards) and, where
        the edge answers or carries the request as the far end sees it (``endpoint``:
        OPTIONS, an initial INVITE), 8.2.2.3 (Require): option tags it does not support
        get 420 with ``Unsupported`` listing them (RFC 4475 3.3.5). False: answered."""
        tags = _unsupported(msg.get_all("require"), _OPTIONS) if endpoint else []
        tags += _unsupported(msg.get_all("proxy-require"), _PROXY_OPTIONS)
        if not tags:
            return True
        self.stats["bad_extension"] += 1
        self._reply(msg, addr, 420, "Bad Extension", unsupported=", ".join(tags))
        return False

    def _on_ack(self, msg: Message, addr: Addr, peer: Peer, now: float) -> None:
        key = self._server_key(msg)
        if self._was_answered(key):
            self.stats["ack_absorbed"] += 1  # ACK of our own refusal (RFC 3261 8.2.7)
            return
        txn = self._server.get(key)
        if txn is not None and txn.state in ("completed", "confirmed"):
            txn.on_ack(now)  # ACK of our non-2xx answer: hop by hop, absorbed (17.2.1)
            self._arm(txn)
            self.stats["ack_absorbed"] += 1
            return
        # ACK of a 2xx: end to end, its own transaction; forward along the dialog's route.
        try:
            self._in_dialog(msg, addr, peer, now)
        except (SipParseError, SipTransactionError):
            self.stats["ack_dropped"] += 1

    def _on_cancel(self, msg: Message, addr: Addr, peer: Peer, now: float) -> None:
        key = self._server_key(msg)
        owned = self._calls.get(key)
        if owned is not None and owned.owned:
            self._adopt(owned)  # answered already? (the answers the plane relayed)
        answered = self._answered_get(key)
        if answered is not None and answered[2][0] == addr[0]:
            self.stats["cancel"] += 1
            self._reply(msg, addr, 200, "OK")  # RFC 3261 9.2: already answered, no effect
            return
        txn = self._server.get(key)
        if txn is None or txn.addr[0] != addr[0]:  # only the INVITE's sender may cancel it
            raise SipTransactionError("Call/Transaction Does Not Exist", 481)
        self.stats["cancel"] += 1
        self._reply(msg, addr, 200, "OK")  # RFC 3261 16.10: answer the CANCEL at once
        call = self._calls.get(key)
        if call is not None:
            call.fallback = ""  # the caller gave up: no branch after this one (16.10)
        if call is None or txn.state != "proceeding":
            return
        client = call.client
        if client.cancel is not None or client.state not in ("calling", "proceeding"):
            return
        if client.provisional:
            self._send_cancel(call, now)
        else:
            client.cancel_pending = True  # RFC 3261 9.1: wait for a provisional response


def _unsupported(values: list[str], known: frozenset[str]) -> list[str]:
    """The option tags in Require/Proxy-Require ``values`` not in ``known``, in order."""
    out: list[str] = []
    for value in values:
        for tag in value.split(","):
            tag = tag.strip()
            if tag and tag.lower() not in known and tag not in out:
                out.append(tag)
    return out
