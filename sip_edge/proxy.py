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
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import math
import re
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any, NamedTuple

from policy import (
    Account,
    AccountError,
    Call,
    Decision,
    DecisionRecorder,
    RuleRef,
    SipAnswer,
    sip_answer,
)
from sip_edge.message import is_digits

from .admission import Hold, SiteAdmission
from .limits import DialerLimits, Limits
from .message import (
    CANONICAL,
    Message,
    Relay,
    SipParseError,
    SipTransactionError,
    Span,
    parse_message,
    parse_name_addr,
    parse_via,
    response_bytes,
    response_from,
    scan_head,
    scan_relay,
    scan_via,
    uri_hostport,
    uri_user,
)
from .rewrite import apply_emergency, apply_identity, location_value, upn_candidate
from .sdp import offer_acceptable, offer_share
from .settings import (
    Addr,
    AnsweredElsewhere,
    CoreSettings,
    Escalate,
    Peer,
    PolicyLike,
    RulesView,
    reason_header,
)
from .transaction import ACK, ACK_FORWARD, DROP, ClientInvite, ServerInvite

__all__ = ["MAGIC", "CoreSettings", "EdgeCore", "Escalate", "Peer", "PolicyLike"]

#: Option tags a Require of an initial INVITE or OPTIONS may name (RFC 3261 8.2.2.3): the
#: extensions the edge carries end to end untouched (reliable provisionals and PRACK,
#: session timers, Replaces, preconditions, no implicit REFER subscription, History-Info).
_OPTIONS = frozenset(("100rel", "timer", "replaces", "precondition", "norefersub", "histinfo"))
#: Option tags a Proxy-Require may name (RFC 3261 16.3 step 5): none, no proxy extension.
_PROXY_OPTIONS: frozenset[str] = frozenset()
#: A top Via an error answer can be sent for: a version, a transport, a sent-by.
_ANSWERABLE_VIA = re.compile(r"^SIP\s*/\s*[0-9]+\.[0-9]+\s*/\s*[A-Za-z]+\s+[^;\s]")

#: Branch prefix of every Via this edge writes (RFC 3261 8.1.1.7 magic cookie + ours).
MAGIC = "z9hG4bKcpe"
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, PRACK, REFER, NOTIFY"
_METHODS = frozenset(m.strip() for m in ALLOW.split(","))


class _Call:
    """One forwarded INVITE: the server side, the client side and the bookkeeping."""

    __slots__ = (
        "account", "client", "done", "fallback", "forwarded", "hold", "server", "upstream",
    )  # fmt: skip

    def __init__(
        self,
        server: ServerInvite,
        client: ClientInvite,
        upstream: Message,
        forwarded: Message,
        account: str | None,
    ) -> None:
        self.server = server
        self.client = client
        self.upstream = upstream
        """The INVITE's Via/From/To/Call-ID/CSeq as received (for our own answers)."""
        self.forwarded = forwarded
        self.account = account
        """Account whose concurrent set-ups this counts in (None: emergency, not counted)."""
        self.done = False
        """Whether the set-up has its final response (no longer in flight)."""
        self.fallback = ""
        """An emergency call's fallback PSAP routing number, '' once used or not wanted
        (``EdgeCore._fallback``, clause 9.3)."""
        self.hold: Hold | None = None
        """Its share of its site's bandwidth (clause 2), None: not counted (no account)."""


_PLACEHOLDER = Account(id="edge-unknown-account", npn="4930000000")


class EdgeCore:
    """The SIP proxy core (RFC 3261 16): one instance per worker process."""

    def __init__(self, settings: CoreSettings, policy: PolicyLike) -> None:
        """Build the core; accounts arrive through :meth:`set_account`."""
        self.settings = settings
        self.policy = policy
        self.decisions: DecisionRecorder | None = None
        """Decision ids on refusals and the decision log (set by the shell; None: neither)."""
        self.stats: Counter[str] = Counter()
        self.accounts: dict[str, Account] = {}
        self._out: list[tuple[bytes, Addr]] = []
        self._effects: list[Escalate] = []
        self._server: OrderedDict[tuple[str, str], ServerInvite] = OrderedDict()
        self._calls: dict[tuple[str, str], _Call] = {}
        self._clients: dict[str, _Call] = {}
        self._late: OrderedDict[str, tuple[float, Message, Addr]] = OrderedDict()
        """Branch of an INVITE answered 2xx -> (until, the INVITE as received, customer):
        late responses still go upstream right (_after_2xx); one lifetime, so FIFO."""
        self._answered: OrderedDict[tuple[str, str], tuple[float, bytes, Addr]] = OrderedDict()
        """(branch, Call-ID) of an INVITE this edge refused itself -> (until, the answer,
        where it went): answered statelessly (RFC 3261 8.2.7, as Kamailio's sl module), a
        retransmission gets the same answer again and the ACK is absorbed, with no
        transaction and no Timer G; kept for Timer H (64*T1), one lifetime, so FIFO."""
        self._retired: OrderedDict[str, tuple[float, Message, Addr]] = OrderedDict()
        """Branch an emergency call left for its fallback -> (until, the INVITE sent on
        it, where): its late answers are ACKed or absorbed, never sent upstream
        (``_on_retired``); kept 64*T1 (Timer D's span), one lifetime, so FIFO."""
        self.shedding = False
        """Set by the shell while it is behind on its socket (``set_shedding``)."""
        self._refusals: dict[tuple[str, int, str], _Refusal | None] = {}
        """(account, its version, dialled user part) -> how the policy refuses that call,
        None: it does not. For the fast path (``_refuse_fast``); emptied when the rules
        or an account change, bounded."""
        self._targets: dict[str, Addr] = {}
        """Remote target URI -> its address (the same few per peer), bounded."""
        self._pending = 0
        self._heap: list[tuple[float, int, ServerInvite | ClientInvite]] = []
        """Deadlines of transactions, stale entries skipped (lazy deletion): a client
        transaction finds its call through ``_clients``, so a stale entry holds only it."""
        self._seq = itertools.count()
        self._ids: Iterator[int] = itertools.count(1)
        self.generation = 0
        self.wall_offset = 0.0
        """The core's clock plus this is Unix time: the decision log's ``ts`` (the shell
        sets it; the core itself only ever compares its own clock's times)."""
        self.on_change: Callable[[], None] | None = None
        """Called after an account change (a data plane rebuilds its tables at once)."""
        self.elsewhere: AnsweredElsewhere | None = None
        """The refusals a data plane in front of the core answered (``_answered``'s twin),
        consulted where the core looks up its own: a message the plane declines (a CANCEL,
        an ACK in another shape) finds them all the same."""
        """Counts account changes (``set_account``, ``drop_account``): a data plane beside
        the core rebuilds its account tables when it moves (``sip_edge.fast.bridge``)."""
        self._via_host = f"{settings.via[0]}:{settings.via[1]}"
        self._rr = f"<sip:{settings.record_route[0]}:{settings.record_route[1]};lr>"
        self._own = {settings.via, settings.record_route}
        self._trunk_exact = {(h, p): a for (h, p), a in settings.trunks.items() if p is not None}
        self._trunk_ip = {h: Peer("trunk", a) for (h, p), a in settings.trunks.items() if p is None}
        self._view: RulesView | None = None
        self._peers: dict[Addr, Peer] = {}
        self._carrier_peers: dict[Addr, Peer] = {}
        self._dests: set[str] = set()
        view = self._rules()
        self.limits: DialerLimits = Limits(
            view.dialer.max_attempts_per_second,
            view.dialer.max_concurrent_setups,
            view.dialer.window_seconds,
        )
        self.admission = SiteAdmission(self.stats, settings.max_calls)
        """Bandwidth held per site by the calls in progress there (clause 2)."""

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

    # --- helpers -----------------------------------------------------------------------

    def _rules(self) -> RulesView:
        snap = self.policy.snapshot
        view = self._view
        if view is None or view.snapshot is not snap:
            view = self._view = RulesView(snap)
            self._refusals.clear()
            # The refusals that name a rule of the rules in force, worded once.
            self._dialer = _Refusal.of(sip_answer("power_dialer"), "power_dialer", view.dialer_rule)
            warning = f'305 {self.settings.via[0]} "Incompatible media format"'
            self._codec = _Refusal.of(
                sip_answer("codec_not_supported"), "codec_not_supported", view.codec_rule,
                "refused_codec", warning,
            )  # fmt: skip
            self._site_full = _Refusal.of(
                sip_answer("site_capacity"), "site_capacity", view.admission_rule
            )
            # Carriers of earlier rules stay trusted peers: calls they carry keep going
            # after a reload (responses, BYE); only new calls follow the new routes.
            for cid, (_, caddr) in view.carriers.items():
                if caddr is not None:
                    self._carrier_peers[caddr] = Peer("carrier", cid)
            self._peers = dict(self._carrier_peers)
            self._peers[self.settings.psap] = Peer("psap", "psap")
            for taddr, acc in self._trunk_exact.items():
                self._peers[taddr] = Peer("trunk", acc)
            self._dests = {h for h, _ in self._peers} | set(self._trunk_ip)
            if hasattr(self, "limits"):
                d = view.dialer
                self.limits.configure(
                    d.max_attempts_per_second, d.max_concurrent_setups, d.window_seconds
                )
        return view

    def _peer(self, addr: Addr) -> Peer | None:
        view = self._view
        if view is None or view.snapshot is not self.policy.snapshot:
            self._rules()  # a reload may have moved the carriers
        peer = self._peers.get(addr)
        if peer is not None:
            return peer
        return self._trunk_ip.get(addr[0])

    def _valid(self, entry: tuple[float, int, ServerInvite | ClientInvite]) -> bool:
        return entry[2].deadline == entry[0]

    def _arm(self, txn: ServerInvite | ClientInvite) -> None:
        if txn.deadline is not None and txn.deadline != txn.pushed:
            txn.pushed = txn.deadline
            heapq.heappush(self._heap, (txn.deadline, next(self._seq), txn))

    def _send(self, data: bytes, addr: Addr) -> None:
        self._out.append((data, addr))

    def _suffix(self) -> str:
        return f"{self.settings.instance}{next(self._ids):x}"

    def _tag(self) -> str:
        return f"cpe{self.settings.instance}x{next(self._ids):x}"

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

    def _stamp_via(self, msg: Message, addr: Addr) -> None:
        """RFC 3261 18.2.1 / RFC 3581: received= and rport= on the top Via."""
        via = msg.top_via()
        msg.set_top_via(_stamped(msg.get("via") or "", via.host, via.params, addr), via)

    def _reply(self, request: Message, addr: Addr, status: int, reason: str, **kw: str) -> None:
        """A stateless answer (OPTIONS, CANCEL, 4xx/5xx outside a transaction)."""
        extra = [(k.replace("_", "-"), v) for k, v in kw.items()]
        self._send(response_bytes(request, status, reason, self._tag(), extra), addr)

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
        top[2] = _stamped(top[2], via[1], params, addr)
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
        if method == "INVITE" and (call is not None or branch in self._late):
            as_sent = partial(_spliced_upstream, data, scanned.first_header, from_, vias)
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
        stamped = _stamped(top.value, host, params, addr)
        from_value = from_.value if from_ is not None else None
        loop_hash = self._loop_hash_of(from_value, call_id, scanned.cseq, uri)
        ours = self._dialog_via(params.get("branch", ""), loop_hash)
        self._count_in_dialog(method)
        self._site_bye(method, call_id, from_value, to)
        edits = [
            (top.start, top.start, f"Via: {ours}\r\n".encode("latin-1")),
            _respelled(data, top, stamped),
            _respelled(data, mf, str(int(mf.value) - 1)),
            (routes[0].start, routes[0].end, b""),
        ]
        edits.sort(key=_span_order)
        self._send(_splice(data, edits), dest)
        return True

    # --- requests ----------------------------------------------------------------------

    def _on_request(self, msg: Message, addr: Addr, peer: Peer, now: float) -> None:
        method = msg.method
        if method == "ACK":
            self._on_ack(msg, addr, peer, now)
            return
        if method == "CANCEL":
            self._on_cancel(msg, addr, now)
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
            if not self._extensions_supported(msg, addr, False):
                return
            self._in_dialog(msg, addr, peer, now)
        elif method == "INVITE":
            if not self._extensions_supported(msg, addr, True):
                return
            self._on_invite(msg, addr, peer, now)
        elif method == "OPTIONS":
            if not self._extensions_supported(msg, addr, True):
                return
            self.stats["options"] += 1
            self._reply(msg, addr, 200, "OK", allow=ALLOW, accept="application/sdp")
        elif method == "BYE":
            raise SipTransactionError("Call/Transaction Does Not Exist", 481)
        else:
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

    def _server_key(self, msg: Message) -> tuple[str, str]:
        return msg.top_via().branch, msg.get("call-id") or ""

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
            hold = self._site_hold(msg, account if known else None, view, now, True)
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
        if not offer_acceptable(msg.body, view.codecs):
            self._answer(msg, key, addr, now, self._codec, account.id)
            return
        if self._overloaded(msg, addr, False):
            return
        hold = self._site_hold(msg, account, view, now, False)
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
        self.stats["invite_retransmission"] += 1
        again = txn.on_retransmission()
        if again is not None:
            self._send(again, txn.addr)
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
                txn.timers.clear()
                txn.deadline = None
                self.stats["evicted"] += 1
            todo -= 64
        return len(table) < limit

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
        answered = self._answered
        _expire(answered, now)
        answered[key] = (now + 64 * self.settings.timers.t1, data, addr)
        if len(answered) > self.settings.max_transactions:
            # Bounded: an entry evicted early only means a retransmitted INVITE is
            # decided again and its ACK, matching nothing, is dropped.
            answered.popitem(last=False)
            self.stats["evicted"] += 1

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
        self._calls[key] = call
        self._clients[branch] = call
        self._pending += 1
        if account is not None:
            self.limits.started(account)
        self._arm(call.client)
        self._send(trying, addr)
        self._send(data, dest)

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

    def _on_cancel(self, msg: Message, addr: Addr, now: float) -> None:
        key = self._server_key(msg)
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

    def _in_dialog(self, msg: Message, addr: Addr, peer: Peer, now: float) -> None:
        """Forward a request inside a dialog we record-routed (RFC 3261 16.4, 16.11)."""
        routes = msg.get_all("route")
        mf = msg.get("max-forwards")
        dest = self._next_hop(routes, msg.uri, mf)
        if dest is None:
            self.stats["in_dialog_unknown_destination"] += 1
            raise SipTransactionError("Forbidden Destination", 403)
        msg.remove_first("route")
        self._stamp_via(msg, addr)
        msg.set("max-forwards", str(int(mf) - 1) if mf is not None else "69")
        msg.push("via", self._dialog_via(msg.top_via().branch, self._loop_hash(msg)))
        self._count_in_dialog(msg.method)
        self._site_bye(msg.method, msg.get("call-id"), msg.get("from"), msg.get("to"))
        self._send(msg.serialize(), dest)

    def _next_hop(self, routes: list[str], uri: str, mf: str | None) -> Addr | None:
        """Where a request inside a dialog goes: the next Route after ours, else the
        Request-URI (RFC 3261 16.4, 16.12); None if that is not a peer (no open relay).
        Raises SipTransactionError (not through us, Max-Forwards used up) or SipParseError.
        """
        if mf is not None and int(mf) == 0:
            # 16.3 step 3 (an ACK, which cannot be answered, is dropped by the caller).
            raise SipTransactionError("Too Many Hops", 483)
        if not routes or not self._is_own_route(routes[0]):
            raise SipTransactionError("Not Routed Through This Edge", 403)
        next_uri = parse_name_addr(routes[1]).uri if len(routes) > 1 else uri
        dest = self._targets.get(next_uri)
        if dest is None:
            host, port = uri_hostport(next_uri)
            dest = (host.strip("[]"), port or 5060)
            if len(self._targets) >= _TARGETS_MAX:
                self._targets.clear()
            self._targets[next_uri] = dest
        return dest if dest[0] in self._dests else None

    def _count_in_dialog(self, method: str) -> None:
        # Count by method only for known ones: a peer must not grow the counters.
        self.stats[f"in_dialog_{method.lower() if method in _METHODS else 'other'}"] += 1

    def _is_own_route(self, value: str) -> bool:
        if value == self._rr:
            return True  # our Record-Route as we wrote it: what a route set echoes
        try:
            host, port = uri_hostport(parse_name_addr(value).uri)
        except SipParseError:
            return False
        return (host.strip("[]"), port or 5060) in self._own

    # --- site admission (clause 2) -------------------------------------------------------

    def _site_hold(
        self, msg: Message, account: Account | None, view: RulesView, now: float, force: bool
    ) -> Hold | None:
        """Take the INVITE's share of its site's bandwidth (``admission``), before it is
        forwarded: set-ups racing each other cannot overshoot the site together.

        None: not counted (no account); ``_SITE_FULL``: refused, the site has no room.
        ``force`` (an emergency call): held whatever the site has left.
        """
        if account is None:
            return None
        kbps = account.site.bandwidth_kbps if account.site is not None else None
        capacity = kbps * 1000 if kbps is not None else None
        bps = offer_share(msg.body, view.shares)
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

    def _site_final(self, call: _Call, status: int) -> None:
        """A final answer to the call's INVITE, or our 408: a 2xx keeps its hold until
        the BYE; any other answer lets it go."""
        if call.hold is not None and status >= 300:
            self.admission.release(call.hold)

    def _site_bye(
        self, method: str, call_id: str | None, from_: str | None, to: str | None
    ) -> None:
        """A request inside a dialog, relayed: if a BYE (from either side), the call's
        hold goes (RFC 3261 15: the session ends with the BYE, whatever its answer)."""
        if method == "BYE" and self.admission:
            self.admission.ended(call_id or "", (_tag_of(from_), _tag_of(to)))

    # --- responses ---------------------------------------------------------------------

    def _on_response(self, msg: Message, peer: Peer, now: float) -> None:
        top = msg.top_via()
        if (top.host, top.port) not in self._own or not top.branch.startswith(MAGIC):
            self.stats["response_not_ours"] += 1
            return
        call = self._clients.get(top.branch)
        method = msg.cseq()[1]
        if call is not None and method == "CANCEL":
            call.client.cancel_answered()
        elif call is not None and method == "INVITE":
            as_sent = partial(_as_sent_upstream, msg)
            self._invite_response(call, msg.status, msg.get("to") or "", as_sent, now)
        elif method == "INVITE" and top.branch in self._late:
            self._after_2xx(self._late[top.branch], msg.status, partial(_as_sent_upstream, msg))
        elif not (top.branch in self._retired and self._on_retired(msg, method, top.branch)):
            self._forward_stateless(msg)

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
        if not call.done:
            call.done = True
            self._pending -= 1
            if call.account is not None:
                self.limits.ended(call.account)
        self._calls.pop(call.server.key, None)
        if call.client.state == "terminated":
            self._clients.pop(call.client.branch, None)

    def _send_ack(self, call: _Call, to: str) -> None:
        """ACK a non-2xx final response, ``to`` its To (RFC 3261 17.1.1.3)."""
        self._send(_ack_bytes(call.forwarded, to), call.client.dest)

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
            self._send(_ack_bytes(forwarded, msg.get("to") or ""), dest)
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
        else:
            self._arm(txn)

    def _client_timer(self, call: _Call, now: float) -> None:
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


def _ack_bytes(forwarded: Message, to: str) -> bytes:
    """The ACK of a non-2xx final response to ``forwarded``, ``to`` its To (17.1.1.3)."""
    ack = Message(
        method="ACK",
        uri=forwarded.uri,
        headers=[
            ["via", "Via", forwarded.get("via") or ""],
            ["max-forwards", "Max-Forwards", "70"],
            ["from", "From", forwarded.get("from") or ""],
            ["to", "To", to],
            ["call-id", "Call-ID", forwarded.get("call-id") or ""],
            ["cseq", "CSeq", f"{forwarded.cseq()[0]} ACK"],
        ],
    )
    return ack.serialize()


def _as_sent_upstream(response: Message, upstream: Message) -> bytes:
    """A carrier's answer with the INVITE's Vias and From as the customer sent them.

    What popping our Via yields from a compliant carrier, and robust if it errs; the From
    was rewritten for CLIP on the way out (RFC 3261 8.2.6.2: a response echoes it).
    """
    response.headers = [h for h in upstream.headers if h[0] == "via"] + [
        h for h in response.headers if h[0] != "via"
    ]
    response.set("from", upstream.get("from") or "")
    return response.serialize()


class _Refusal(NamedTuple):
    """The parts of the edge's own refusal that do not depend on the request: built once
    per reason and rule, used by the full path (``_answer``) and the fast path alike."""

    status: int
    phrase: str
    extra: list[tuple[str, str]]
    """Reason (RFC 3326, naming the rule), and Warning where there is one."""
    counter: str
    """The ``stats`` key the refusal is counted under."""
    decision: Decision
    """What the decision log records of it (the policy's Decision, or the edge's own)."""

    @classmethod
    def of(
        cls,
        sip: SipAnswer,
        reason: str,
        rule: RuleRef | None,
        counter: str = "",
        warning: str = "",
        decision: Decision | None = None,
    ) -> _Refusal:
        extra = [("reason", reason_header(sip.cause, reason, rule))]
        if warning:
            extra.append(("warning", warning))
        own = decision or Decision("block", reason, rule, sip)
        return cls(sip.status, sip.phrase, extra, counter or f"refused_{reason}", own)

    @classmethod
    def of_decision(cls, decision: Decision) -> _Refusal:
        """The refusal of a Decision that is neither allow nor emergency."""
        sip = decision.sip or sip_answer(decision.reason)
        return cls.of(sip, decision.reason, decision.rule, decision=decision)


_UNKNOWN_ACCOUNT = _Refusal.of(sip_answer("unknown_account"), "unknown_account", None)

#: Not held: the site's bandwidth is used up (``EdgeCore._site_hold``).
_SITE_FULL = Hold(("", ""), "", 0, math.inf)


def _rendered(refusal: _Refusal) -> tuple[bytes, bytes, str]:
    """What ``response_from`` writes of ``refusal`` around the request's own lines."""
    status = f"SIP/2.0 {refusal.status} {refusal.phrase}\r\n".encode("latin-1")
    lines = "".join(f"{CANONICAL.get(k, k.title())}: {v}\r\n" for k, v in refusal.extra)
    return status, lines.encode("latin-1"), refusal.counter


def _tag_of(value: str | None) -> str:
    """The tag of a From or To value, '' if it has none or does not parse."""
    try:
        return parse_name_addr(value or "").tag
    except SipParseError:
        return ""


#: Entries of the refusal cache before it is emptied (dialled numbers are unbounded).
_REFUSALS_MAX = 16_384

#: Longest Request-URI the refusal fast path reads off a start line.
_URI_MAX = 512

#: Not in the refusal cache (None there means: the policy lets the call through).
_UNSEEN: Any = object()

#: Entries of the remote-target cache before it is emptied (targets are the peers').
_TARGETS_MAX = 4096


_ViaParts = tuple[str, str, int | None, dict[str, str]]

#: Writes a response to a forwarded INVITE as it goes upstream, given the INVITE as
#: received: the full path's ``_as_sent_upstream`` or the relay's ``_spliced_upstream``.
_AsSent = Callable[[Message], bytes]


def _spliced_upstream(
    data: bytes, h0: int, from_: Span, vias: list[Span], upstream: Message
) -> bytes:
    """``_as_sent_upstream`` of a response in canonical form, spliced: every Via line out,
    the INVITE's Vias as received in after the status line, its From in place of ours."""
    top = "".join(f"{h[1]}: {h[2]}\r\n" for h in upstream.headers if h[0] == "via")
    edits = [(h0, h0, top.encode("latin-1")), _respelled(data, from_, upstream.get("from") or "")]
    edits += [(span.start, span.end, b"") for span in vias]
    edits.sort(key=_span_order)
    return _splice(data, edits)


def _respelled(data: bytes, span: Span, value: str) -> tuple[int, int, bytes]:
    """The edit that gives the canonical line ``span`` (``Name: value``) a new value."""
    start, end = span.start, span.end
    return start, end, data[start : end - 2 - len(span.value)] + value.encode("latin-1") + b"\r\n"


def _span_order(edit: tuple[int, int, bytes]) -> tuple[int, int]:
    return edit[0], edit[1]  # an insertion at a line goes before an edit of that line


def _splice(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    """``data`` with each ``(start, end, new)`` (in order, not overlapping) replaced."""
    parts = []
    at = 0
    for start, end, new in edits:
        parts.append(data[at:start])
        parts.append(new)
        at = end
    parts.append(data[at:])
    return b"".join(parts)


def _stamped(value: str, host: str, params: dict[str, str], addr: Addr) -> str:
    """RFC 3261 18.2.1 / RFC 3581: the top Via ``value`` with received= and rport= added
    (``params``, its parsed parameters, updated to match)."""
    if "rport" in params and not params["rport"]:
        value = value.replace(";rport", f";rport={addr[1]}", 1)
        params["rport"] = str(addr[1])
    if host != addr[0] and "received" not in params:
        value += f";received={addr[0]}"
        params["received"] = addr[0]
    return value


def _expire(table: OrderedDict[Any, tuple[float, Any, Addr]], now: float) -> None:
    """Drop the entries whose time is up (insertion order is expiry order).

    An OrderedDict, not a dict: a dict keeps the slots of deleted entries until it is
    resized, so finding its oldest entry after many deletions at the front scans them
    all (measured: 24 µs per insert-and-expire at 200,000 entries, against 0.3 µs).
    """
    while table:
        if table[next(iter(table))][0] > now:
            return
        table.popitem(last=False)


def _via_dest(host: str, port: int | None, params: dict[str, str]) -> Addr:
    """Where a response goes by the Via (RFC 3261 18.2.2, RFC 3581): received, rport."""
    host = params.get("received") or host
    rport = params.get("rport", "")
    return host.strip("[]"), int(rport) if is_digits(rport) else (port or 5060)


#: What a forwarded INVITE keeps of itself as received, to answer the customer.
_KEPT = frozenset(("via", "from", "to", "call-id", "cseq"))

#: First bytes of a datagram that may be a keep-alive (RFC 5626: CRLF) rather than SIP.
_BLANK = frozenset((b"", b"\r", b"\n", b"\t", b" "))

#: Transports that retransmit themselves (RFC 3261 17.1.1.2 / 17.2.1 timers A, G: UDP only).
_RELIABLE = frozenset(("TCP", "TLS", "SCTP", "WS", "WSS"))


def _reliable(request: Message) -> bool:
    """Whether the request came over a reliable transport (its top Via's sent-protocol)."""
    return request.top_via().transport in _RELIABLE


def _unsupported(values: list[str], known: frozenset[str]) -> list[str]:
    """The option tags in Require/Proxy-Require ``values`` not in ``known``, in order."""
    out: list[str] = []
    for value in values:
        for tag in value.split(","):
            tag = tag.strip()
            if tag and tag.lower() not in known and tag not in out:
                out.append(tag)
    return out
