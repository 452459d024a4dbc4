"""The edge as a redirect server (RFC 3261 8.3), for the SBCs operators already run.

With ``mode = "redirect"`` (``config/edge.toml``) the core answers every INVITE and
forwards nothing, so Kamailio, OpenSIPS or a commercial SBC can consult callpolicy per
call with a few lines of its own configuration (``docs/examples/kamailio-redirect.cfg``).
An INVITE from a configured peer is decided exactly as in proxy mode (``EdgeCore``'s
``_on_invite``: the policy, unknown accounts, suspension, the power-dialer rate, the
codec check) and then:

- refused: the same answer proxy mode sends (status, Reason naming the rule,
  ``Callpolicy-Decision``), from the same fast path;
- allowed: ``302 Moved Temporarily`` (RFC 3261 21.3.3) whose Contact is the Request-URI
  proxy mode would forward to (the canonical number at the route's carrier), with the
  identity proxy mode would write (``rewrite.apply_identity`` on a copy of the INVITE's
  identity headers, so both modes agree by construction): ``P-Asserted-Identity``,
  ``Privacy`` when the caller asked for CLIR, and ``Callpolicy-From``, the From to send
  (the UPN where it may be shown, else the NPN, per the carrier profile; anonymous
  under CLIR);
- 110/112: 302 to the PSAP, never refused: the area's routing number (q=1.0) and its
  fallback (q=0.5), tried in q order by the SBC (RFC 3261 8.1.3.4, clause 9.3), with the
  NPN asserted, Privacy gone and the site in the location header (``apply_emergency``).

Each 302 carries a ``Callpolicy-Decision`` id and, with ``[decision_log]``, a log line.

Stateless (RFC 3261 8.2.7): the answer is kept for 64*T1 under (branch, Call-ID), as a
refusal is, so a retransmitted INVITE gets the same bytes again, the ACK of the answer
(hop by hop for a final answer other than 2xx, 17.1.1.3) is absorbed and a CANCEL gets
200 without effect (9.2). Nothing else is kept: no transaction, no call in set-up, so
nothing counts against ``max_in_flight``, nothing is shed (a 302 costs what a refusal
costs), and per-site bandwidth admission (clause 2), which needs the call's end, is
the SBC's (its dialog profiles). No dialog passes a redirect server: a request inside
one gets 481 (12.2.2), an ACK of anything but our answer is dropped, a response is not
ours (we send no requests), OPTIONS gets 200, and other methods 405 with ``Allow``.
"""

from __future__ import annotations

from policy import Account, Decision
from sip_edge.wire.message import (
    Message,
    NameAddr,
    SipParseError,
    SipTransactionError,
    parse_name_addr,
    response_bytes,
    scan_relay,
    scan_via,
    uri_user,
)

from .proxy import EdgeCore
from .rewrite import apply_emergency, apply_identity, location_value
from .settings import Addr, CoreSettings, Peer, PolicyLike, RulesView

__all__ = ["ALLOW", "RedirectCore", "new_core"]

#: What a redirect server does (RFC 3261 20.5): it answers INVITE, absorbs the ACK of
#: its answer, answers CANCEL and OPTIONS, and takes part in no dialog.
ALLOW = "INVITE, ACK, CANCEL, OPTIONS"

#: The INVITE's headers the identity rewrite reads or replaces (``rewrite.py``).
_IDENTITY = frozenset(("from", "privacy", "p-preferred-identity", "p-asserted-identity"))


def new_core(settings: CoreSettings, policy: PolicyLike) -> EdgeCore:
    """The core of ``settings.mode``: a proxy, or a redirect server."""
    if settings.mode == "redirect":
        return RedirectCore(settings, policy)
    return EdgeCore(settings, policy)


class RedirectCore(EdgeCore):
    """The edge's core answering 302 where the proxy would forward (module docstring).

    Everything up to the decision is the proxy's own code; this class replaces the two
    steps that forward (to the carrier, to the PSAP) and what would take part in a
    dialog or hold state. ``tests/sip/test_redirect.py`` holds it to proxy mode: the
    same refusals, and a 302 naming what proxy mode forwards.
    """

    # --- the decision's outcome: 302 instead of forwarding ---------------------------

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
        """302 to where proxy mode forwards an allowed call, with the CLIP identity."""
        carrier, dest = view.carriers.get(decision.route, (None, None))
        if carrier is None or dest is None:
            # No address to name (a carrier written as a hostname): proxy mode's 503.
            super()._forward_carrier(msg, key, addr, decision, account, view, now)
            return
        identity = _identity_headers(msg)
        apply_identity(
            identity,
            decision.identity.number if decision.identity else None,
            account.npn or None,
            carrier.identity_header,
            self.settings.via[0],
        )
        contact = f"<sip:+{decision.number}@{dest[0]}:{dest[1]};user=phone>"
        self._redirect(msg, key, addr, now, decision, account.id, [contact], identity)

    def _forward_emergency(
        self,
        msg: Message,
        key: tuple[str, str],
        addr: Addr,
        decision: Decision,
        account: Account | None,
        now: float,
    ) -> None:
        """302 to the PSAP (routing number, then fallback), the NPN and the location."""
        host, port = self.settings.psap
        contacts = [f"<sip:{decision.route}@{host}:{port}>"]
        if decision.fallback:  # clause 9.3: the SBC tries it when the first one fails
            contacts = [f"{contacts[0]};q=1.0", f"<sip:{decision.fallback}@{host}:{port}>;q=0.5"]
        site = account.site if account is not None else None
        location = location_value(account.id, site) if account and site else None
        if location is None:
            self.stats["emergency_without_site"] += 1
        npn = decision.identity.number if account is not None and decision.identity else None
        header = self._rules().location_header
        identity = _identity_headers(msg, header.lower())
        apply_emergency(identity, npn, self.settings.via[0], header, location)
        self._redirect(
            msg, key, addr, now, decision, account.id if account else "", contacts, identity
        )

    def _redirect(
        self,
        msg: Message,
        key: tuple[str, str],
        addr: Addr,
        now: float,
        decision: Decision,
        account: str,
        contacts: list[str],
        identity: Message,
    ) -> None:
        """Answer 302 with ``contacts`` (one Contact line each, RFC 3261 7.3.1) and the
        rewritten ``identity``, statelessly: remembered for retransmissions and the ACK
        as the edge's refusals are (``_answered``)."""
        self.stats["redirected_emergency" if decision.verdict == "emergency" else "redirected"] += 1
        extra = [("contact", contact) for contact in contacts]
        extra += _asserted(identity)
        recorder = self.decisions
        if recorder is not None:
            decision_id = recorder.record(
                decision,
                account=account,
                dial=uri_user(msg.uri) or msg.uri,
                revision=self.policy.snapshot.revision,
                now=now + self.wall_offset,
            )
            extra.append(("callpolicy-decision", decision_id))
        data = response_bytes(msg, 302, "Moved Temporarily", self._tag(), extra)
        self._remember_refusal(key, data, addr, now)
        self._send(data, addr)

    def _overloaded(self, msg: Message, addr: Addr, emergency: bool) -> bool:
        """Never: proxy mode sheds only calls that would hold state, and a 302 holds none."""
        return False

    def _site_hold(
        self,
        msg: Message,
        account: Account | None,
        bps: int,
        view: RulesView,
        now: float,
        force: bool,
    ) -> None:
        """Not counted: the edge never sees the call's end (the SBC's dialog profiles)."""
        return None

    # --- everything else: no dialog passes a redirect server -------------------------

    def _relay_fast(self, data: bytes, addr: Addr, peer: Peer, now: float) -> bool:
        """Only the ACK of our own answer, absorbed from a light scan (the proxy's relay
        path would route other ACKs along a dialog); everything else takes the full path."""
        if not data.startswith(b"ACK "):
            return False
        scanned = scan_relay(data, self.settings.max_message_bytes)
        if scanned is None:
            return False
        via = scan_via(scanned.vias[0].value)
        if via is None or (via[3].get("branch", ""), scanned.call_id) not in self._answered:
            return False
        self.stats["ack_absorbed"] += 1  # RFC 3261 17.1.1.3: hop by hop, it ends here
        return True

    def _on_request(self, msg: Message, addr: Addr, peer: Peer, now: float) -> None:
        """A request on the full path: INVITE as in proxy mode, the rest answered here."""
        method = msg.method
        if method == "ACK":
            # The ACK of our answer (17.1.1.3) is absorbed; there is no other (no dialog).
            known = self._server_key(msg) in self._answered
            self.stats["ack_absorbed" if known else "ack_dropped"] += 1
            return
        if method == "CANCEL":
            super()._on_request(msg, addr, peer, now)  # 200 if answered (9.2), else 481
            return
        try:
            in_dialog = bool(parse_name_addr(msg.get("to") or "").tag)
        except SipParseError:
            raise SipParseError("Bad To") from None
        if in_dialog or method == "BYE":
            self.stats["no_dialog_481"] += 1  # 12.2.2: no dialog is known here
            raise SipTransactionError("Call/Transaction Does Not Exist", 481)
        if method == "INVITE":
            super()._on_request(msg, addr, peer, now)  # 483, 482, 420, then _on_invite
        elif method == "OPTIONS":
            if self._extensions_supported(msg, addr, True):
                self.stats["options"] += 1
                self._reply(msg, addr, 200, "OK", allow=ALLOW, accept="application/sdp")
        else:
            self.stats["method_not_allowed"] += 1
            self._reply(msg, addr, 405, "Method Not Allowed", allow=ALLOW)  # 21.4.6

    def _on_response(self, msg: Message, peer: Peer, now: float) -> None:
        """Dropped and counted."""
        self.stats["response_not_ours"] += 1  # a redirect server sends no requests


def _identity_headers(msg: Message, *more: str) -> Message:
    """A copy of the INVITE's identity headers (and ``more``) for the rewrite to work on."""
    keys = _IDENTITY.union(more)
    return Message(headers=[list(h) for h in msg.headers if h[0] in keys])


def _asserted(identity: Message) -> list[tuple[str, str]]:
    """The 302's identity headers: the rewritten From without its tag (From is the
    caller's, RFC 3261 8.2.6.2, so it travels as ``Callpolicy-From``), then every other
    header the rewrite left (P-Asserted-Identity, Privacy, the location), in order."""
    out: list[tuple[str, str]] = []
    from_ = identity.get("from")
    if from_ is not None:
        name = parse_name_addr(from_)
        out.append(("callpolicy-from", str(NameAddr(name.display, name.uri, ""))))
    out += [(h[0], h[2]) for h in identity.headers if h[0] != "from"]
    return out
