"""What every part of the edge's core shares: its tables, its settings and the rules in
force (``CoreState``), and the records the tables hold (``_Call``, ``_Refusal``).

The core is one class, ``proxy.EdgeCore``, put together from mixins of one concern each
(``branching``, ``refusals``, ``responses``, ``dialogs``, ``invites``, ``fastpath``); they
all derive from ``CoreState``, so each sees the attributes ``__init__`` declares here
with their types (mypy strict) and nothing is declared twice.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter, OrderedDict
from collections.abc import Callable, Container, Iterator
from typing import Any, NamedTuple

from policy import Account, Decision, DecisionRecorder, RuleRef, SipAnswer, sip_answer
from sip_edge.wire.message import Message, SipParseError, parse_name_addr, response_bytes

from .admission import Admission, Hold, SiteAdmission
from .limits import DialerLimits, Limits
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
from .splice import stamped
from .transaction import ClientInvite, ServerInvite


class _Call:
    """One forwarded INVITE: the server side, the client side and the bookkeeping."""

    __slots__ = (
        "account", "client", "done", "ended_elsewhere", "fallback", "forwarded", "hold",
        "owned", "server", "upstream",
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
        self.owned = False
        """A data plane relays its answers and keeps them for the core (``elsewhere.own``;
        ``Responses._adopt`` brings the transactions up to date)."""
        self.ended_elsewhere = False
        """The data plane ended its set-up in the power-dialer counts (with the 2xx it
        relayed): ``_final`` does not end it again."""


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


class CoreState:
    """The core's state and the helpers every part of it uses (``proxy.EdgeCore``)."""

    def __init__(self, settings: CoreSettings, policy: PolicyLike) -> None:
        """Build the core; accounts arrive through :meth:`set_account`."""
        self.settings = settings
        self.policy = policy
        self.decisions: DecisionRecorder | None = None
        self.streams: Container[Addr] = frozenset()
        """Peers with a live TCP connection to this worker (the shell's, ``stream.py``):
        what goes to them goes on the connection, so their calls' answers stay here."""
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
        """Counts account changes (``set_account``, ``drop_account``): a data plane beside
        the core rebuilds its account tables when it moves (``sip_edge.fast.bridge``)."""
        self.wall_offset = 0.0
        """The core's clock plus this is Unix time: the decision log's ``ts`` (the shell
        sets it; the core itself only ever compares its own clock's times)."""
        self.on_change: Callable[[], None] | None = None
        """Called after an account change (a data plane rebuilds its tables at once)."""
        self.elsewhere: AnsweredElsewhere | None = None
        """The refusals a data plane in front of the core answered (``_answered``'s twin),
        consulted where the core looks up its own: a message the plane declines (a CANCEL,
        an ACK in another shape) finds them all the same."""
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
        self.admission: Admission = SiteAdmission(self.stats, settings.max_calls)
        """Bandwidth held per site by the calls in progress there (clause 2)."""

    # --- the rules in force ----------------------------------------------------------------

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

    # --- transactions' timers, output, answers ---------------------------------------------

    def _valid(self, entry: tuple[float, int, ServerInvite | ClientInvite]) -> bool:
        return entry[2].deadline == entry[0]

    def _arm(self, txn: ServerInvite | ClientInvite) -> None:
        if txn.deadline is not None and txn.deadline != txn.pushed:
            txn.pushed = txn.deadline
            heapq.heappush(self._heap, (txn.deadline, next(self._seq), txn))

    def _adopt(self, call: _Call, keep: bool = False) -> None:
        """Bring ``call`` up to date with the answers a data plane relayed for it (the
        mixins that act on a call need it; ``Responses._adopt`` is it)."""
        raise NotImplementedError

    def _send(self, data: bytes, addr: Addr) -> None:
        self._out.append((data, addr))

    def _tag(self) -> str:
        return f"cpe{self.settings.instance}x{next(self._ids):x}"

    def _stamp_via(self, msg: Message, addr: Addr) -> None:
        """RFC 3261 18.2.1 / RFC 3581: received= and rport= on the top Via."""
        via = msg.top_via()
        msg.set_top_via(stamped(msg.get("via") or "", via.host, via.params, addr), via)

    def _reply(self, request: Message, addr: Addr, status: int, reason: str, **kw: str) -> None:
        """A stateless answer (OPTIONS, CANCEL, 4xx/5xx outside a transaction)."""
        extra = [(k.replace("_", "-"), v) for k, v in kw.items()]
        self._send(response_bytes(request, status, reason, self._tag(), extra), addr)

    def _server_key(self, msg: Message) -> tuple[str, str]:
        return msg.top_via().branch, msg.get("call-id") or ""


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


def _tag_of(value: str | None) -> str:
    """The tag of a From or To value, '' if it has none or does not parse."""
    try:
        return parse_name_addr(value or "").tag
    except SipParseError:
        return ""
