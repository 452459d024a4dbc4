"""The C data plane beside one Python core: the same rules, accounts, counters and ids.

``PlaneBridge(core, plane)`` keeps the plane's tables in step with the core (a rules
reload or an account change rebuilds them before the next batch), hands the core its
counters in ``stats`` and its refusals to the decision log, and makes the core's To tags,
branches and decision ids come from the plane's counters, so an answer has the same bytes
whichever path wrote it (tests/sip/test_plane.py holds the two to that).

The plane answers only what it is sure of (plane.h); every other datagram goes to the
core, which stays the reference. The plane is for UDP in proxy mode: the redirect core
answers differently and TCP goes through ``stream.py``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import msgspec

from policy import AccountError, Decision, Snapshot, encode_event, event_of

from ._cdecide import CAccount, CRules
from ._plane import CAdmission, CLimits, Plane
from .tables import RowTable

if TYPE_CHECKING:
    from sip_edge.core.proxy import EdgeCore

__all__ = ["PlaneBridge", "new_plane"]

log = logging.getLogger("callpolicy.sip_edge")

Addr = tuple[str, int]


def new_plane(core: EdgeCore, fd: int, batch: int, size: int) -> PlaneBridge:
    """A plane reading ``fd`` for ``core``, its power-dialer counters shared with it."""
    lim = core.limits
    limits = CLimits(lim.rate, lim.concurrent, lim.window_seconds, lim.max_accounts)
    s = core.settings
    plane = Plane(fd, limits, batch, size, s.timers.t1, s.max_transactions)
    # The site holds too: the plane ends a call's hold when it relays the BYE.
    admission = CAdmission(limits, core.stats, s.max_calls)
    return PlaneBridge(core, plane, limits, admission)


class PlaneBridge:
    """One core and its plane, kept in step."""

    def __init__(
        self, core: EdgeCore, plane: Plane, limits: CLimits, admission: CAdmission
    ) -> None:
        self.core = core
        self.plane = plane
        # One table of power-dialer counters (clause 7.2) and one of site holds (clause
        # 2) for both paths; taken over before the core holds anything.
        core.limits = limits
        if len(core.admission):
            raise ValueError(
                f"PlaneBridge: expected a core that holds no call yet, found "
                f"{len(core.admission)} site holds (the tables cannot be carried over)"
            )
        core.admission = admission
        plane.set_admission(admission)
        core.elsewhere = plane
        core.on_change = self.sync
        core.share_ids(plane.ids())
        recorder = core.decisions
        prefix = ""
        if recorder is not None:
            recorder.share_ids(plane.decision_ids())
            prefix = recorder.id_prefix
        plane.set_identity(core.via_host, core.tag_prefix, prefix)
        self._logging = recorder is not None and recorder.log is not None
        self._generation = -1
        self._rows: RowTable | None = None
        self._crules: CRules | None = None
        self._built_from: Snapshot | None = None

    # --- keeping the tables in step ----------------------------------------------------

    def sync(self) -> None:
        """Rebuild what changed since the last batch (cheap when nothing did)."""
        core = self.core
        reloaded = core.policy.snapshot is not self._built_from
        if reloaded:
            self._load_rules()
        if reloaded or core.generation != self._generation:
            self._load_trunks()
            self._generation = core.generation

    def _load_rules(self) -> None:
        core = self.core
        view = core.rules_view()  # the core's refusals and peers of these rules
        rows = RowTable(view.snapshot)
        crules = CRules.build(view.snapshot)
        refusals: list[tuple[bytes, bytes, str, bytes] | None] = []
        for row, decision in enumerate(rows.refusals):
            if decision is None:
                refusals.append(None)
                continue
            tail = self._log_tail(rows.decision_of(row, ""))
            refusals.append((*core.rendered(decision), tail))
        dialer = (*core.rendered_dialer(), self._log_tail(core.rendered_dialer_decision()))
        if self._logging:
            self._log_format(view.snapshot.revision)
        self.plane.set_rules(crules, refusals, dialer)
        # The hosts it may relay to come with the rules (their carriers), not accounts.
        self.plane.set_relay(core.settings.secret, core.record_route, core.dests())
        self._rows, self._crules, self._built_from = rows, crules, view.snapshot

    def _log_tail(self, decision: Decision) -> bytes:
        """The decision-log line of ``decision`` from "verdict" to its end, as msgspec
        writes it (the plane writes what comes before per call, ``logline.c``)."""
        recorder = self.core.decisions
        mask = recorder.mask_digits if recorder is not None else 0
        line = encode_event(
            event_of(decision, decision_id="", ts=0.0, node="", revision="", account="",
                     dial="", mask_digits=mask)
        )  # fmt: skip
        return line[line.index(b'"verdict":') :] + b"\n"

    def _log_format(self, revision: str) -> None:
        recorder = self.core.decisions
        assert recorder is not None
        enc = msgspec.json.encode
        head = b'{"schema":1,"id":' + enc(recorder.id_prefix)[:-1]
        middle = b',"node":' + enc(recorder.node) + b',"revision":' + enc(revision)
        # The core's clock is the loop's; a log line's ts is Unix time.
        self.plane.set_log_format(
            head, middle + b',"account":', recorder.mask_digits, self.core.wall_offset
        )

    def _load_trunks(self) -> None:
        core, crules = self.core, self._crules
        if crules is None:
            return
        names = sorted(set(core.settings.trunks.values()))
        index = {name: i for i, name in enumerate(names)}
        trunks: list[tuple[CAccount | None, str, bool, bytes]] = []
        for name in names:
            account = core.accounts.get(name)
            caccount = None
            if account is not None and account.dialer_flag != "suspend":
                try:
                    # Compiled against the snapshot the C rules were built from (CAccount
                    # refuses a mix).
                    compiled = core.policy.compiled(account, self._built_from)
                    caccount = CAccount.build(crules, compiled)
                except AccountError:
                    caccount = None  # the core refuses it, and counts it
            flag = account.dialer_flag if account is not None else "none"
            trunks.append((caccount, name, flag == "throttle", msgspec.json.encode(name)))
        peers: list[tuple[str, int, int]] = []
        for (host, port), peer in core.peers().items():
            peers.append((host, port, index[peer.name] if peer.kind == "trunk" else -1))
        for host, peer in core.trunk_hosts().items():
            peers.append((host, 0, index[peer.name]))
        self.plane.set_trunks(trunks)
        self.plane.set_peers(peers)

    # --- before and after a batch -------------------------------------------------------

    def adopt(self) -> bool:
        """The calls the plane handed back (a 2xx relayed, or a message of theirs left to
        the core) into the core, before it reads what the plane queued: their answers
        replayed through their transactions, in the order they came. True if there were
        any (their timers changed: the shell re-arms)."""
        returned = self.plane.take_returned()
        if returned:
            self.core.adopt(returned)
        return bool(returned)

    def settle(self) -> None:
        """The plane's counts into the core's ``stats``, its log lines into the log."""
        stats = self.core.stats
        for key, n in self.plane.counters().items():
            stats[key] += n
        lines = self.plane.take_log()
        recorder = self.core.decisions
        if lines and recorder is not None:
            recorder.record_lines(lines)
