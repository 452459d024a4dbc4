"""Requests inside a dialog the edge record-routed, forwarded statelessly (RFC 3261
16.4, 16.11, 16.12): ACK of a 2xx, BYE, re-INVITE and the rest follow the route set;
the destination must be a known peer (no open relay)."""

from __future__ import annotations

from sip_edge.wire.message import (
    Message,
    SipParseError,
    SipTransactionError,
    parse_name_addr,
    uri_hostport,
)

from .branching import Branching
from .settings import Addr, Peer
from .state import _tag_of

#: The methods the edge carries (Allow of its OPTIONS and 405 answers).
ALLOW = "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE, PRACK, REFER, NOTIFY"
_METHODS = frozenset(m.strip() for m in ALLOW.split(","))

#: Entries of the remote-target cache before it is emptied (targets are the peers').
_TARGETS_MAX = 4096


class Dialogs(Branching):
    """In-dialog forwarding, its route checks and counters, and the BYE's site release."""

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

    def _site_bye(
        self, method: str, call_id: str | None, from_: str | None, to: str | None
    ) -> None:
        """A request inside a dialog, relayed: if a BYE (from either side), the call's
        hold goes (RFC 3261 15: the session ends with the BYE, whatever its answer)."""
        if method == "BYE" and self.admission:
            self.admission.ended(call_id or "", (_tag_of(from_), _tag_of(to)))
