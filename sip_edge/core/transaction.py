"""INVITE transactions of a stateful proxy as state machines (RFC 3261 17, 16.6-16.8).

Time is passed in (``now``, seconds on any monotonic clock); nothing here reads a clock
or touches a socket. Each transaction keeps its armed timers by name and exposes the
earliest as ``deadline``; the proxy keeps a heap of deadlines and calls ``on_timer(now)``.
UDP timers (17.1.1.2, 17.2.1): A retransmits the INVITE (T1, doubling), B gives up after
64*T1, C (16.6 step 11) bounds a ringing set-up, D absorbs retransmitted final responses,
E/F retransmit and give up a CANCEL we sent, G retransmits our final non-2xx answer
(T1 doubling to T2) until H (64*T1) or the ACK; I absorbs ACK retransmissions for T4;
L (RFC 6026) absorbs INVITE retransmissions that crossed a 2xx.
"""

from __future__ import annotations

from typing import Final, Literal

__all__ = [
    "ClientEvent",
    "ClientInvite",
    "ServerInvite",
    "TimerConfig",
]


class TimerConfig:
    """RFC 3261 timer values (seconds); table 4 defaults."""

    __slots__ = ("c", "t1", "t2", "t4")

    def __init__(self, t1: float = 0.5, t2: float = 4.0, t4: float = 5.0, c: float = 180.0):
        """T1 (RTT estimate), T2 (max retransmit interval), T4 (max network lifetime), C."""
        self.t1 = t1
        self.t2 = t2
        self.t4 = t4
        self.c = c


class _Timed:
    """Named timers; ``deadline`` is the earliest armed one."""

    __slots__ = ("deadline", "pushed", "timers")

    def __init__(self) -> None:
        self.timers: dict[str, float] = {}
        self.deadline: float | None = None
        self.pushed: float | None = None
        """The deadline last put on the owner's timer heap (set by the owner)."""

    def _arm(self, name: str, at: float) -> None:
        timers = self.timers
        if name in timers:  # re-armed: the earliest may have been this one
            timers[name] = at
            self._update()
            return
        timers[name] = at
        if self.deadline is None or at < self.deadline:
            self.deadline = at

    def _disarm(self, *names: str) -> None:
        for name in names:
            self.timers.pop(name, None)
        self._update()

    def _update(self) -> None:
        self.deadline = min(self.timers.values()) if self.timers else None

    def _due(self, now: float) -> list[str]:
        due = sorted((at, name) for name, at in self.timers.items() if at <= now)
        for _, name in due:
            del self.timers[name]
        self._update()
        return [name for _, name in due]


ServerState = Literal["proceeding", "accepted", "completed", "confirmed", "terminated"]


class ServerInvite(_Timed):
    """The INVITE server transaction towards the customer (RFC 3261 17.2.1)."""

    __slots__ = ("addr", "g_interval", "key", "last", "reliable", "state", "t")

    def __init__(
        self, key: tuple[str, str], addr: tuple[str, int], t: TimerConfig, reliable: bool = False
    ) -> None:
        """``key`` = (top Via branch, Call-ID); ``addr`` where the request came from;
        ``reliable``: it came over TCP (no Timer G, Timer I zero: RFC 3261 17.2.1)."""
        super().__init__()
        self.key = key
        self.addr = addr
        self.t = t
        self.reliable = reliable
        self.state: ServerState = "proceeding"
        self.last: bytes | None = None
        """The last response sent (re-sent on a retransmitted INVITE)."""
        self.g_interval = t.t1

    def respond(self, data: bytes, status: int, now: float) -> None:
        """Record that response ``data`` with ``status`` is being sent."""
        if self.state != "proceeding":
            return
        self.last = data
        if status < 200:
            return
        if status < 300:
            # RFC 6026 7.1: Accepted absorbs INVITE retransmissions that crossed the 2xx for
            # 64*T1 (Timer L); the 2xx itself and its retransmissions go end to end, so it
            # is not kept for resending.
            self.state = "accepted"
            self.last = None
            self._arm("L", now + 64 * self.t.t1)
            return
        self.state = "completed"
        if not self.reliable:  # 17.2.1: a reliable transport retransmits for us
            self._arm("G", now + self.g_interval)
        self._arm("H", now + 64 * self.t.t1)

    def on_retransmission(self) -> bytes | None:
        """A retransmitted INVITE arrived: the response to send again, if any."""
        return self.last if self.state in ("proceeding", "completed") else None

    def on_ack(self, now: float) -> None:
        """The ACK for our non-2xx final response arrived (17.2.1: Completed -> Confirmed)."""
        if self.state == "completed":
            self.state = "confirmed"
            self._disarm("G", "H")
            self._arm("I", now + (0.0 if self.reliable else self.t.t4))

    def on_timer(self, now: float) -> tuple[bytes | None, bool]:
        """Run due timers: (response to retransmit, whether H fired without an ACK)."""
        resend: bytes | None = None
        for name in self._due(now):
            if name == "G" and self.state == "completed":
                resend = self.last
                self.g_interval = min(2 * self.g_interval, self.t.t2)
                self._arm("G", now + self.g_interval)
            elif name in ("H", "I", "L"):
                timed_out = name == "H" and self.state == "completed"
                self.state = "terminated"
                self.timers.clear()
                self._update()
                return None, timed_out
        return resend, False


ClientState = Literal["calling", "proceeding", "completed", "terminated"]
ClientEvent = Literal["retransmit", "timeout", "cancel", "resend_cancel", "terminated"]

FORWARD: Final = "forward"
ACK_FORWARD: Final = "ack_forward"
ACK: Final = "ack"
DROP: Final = "drop"


class ClientInvite(_Timed):
    """The INVITE client transaction towards the carrier or PSAP (RFC 3261 17.1.1)."""

    __slots__ = (
        "a_interval",
        "branch",
        "c_fired",
        "cancel",
        "cancel_pending",
        "dest",
        "e_interval",
        "provisional",
        "request",
        "state",
        "t",
    )

    def __init__(
        self, branch: str, dest: tuple[str, int], request: bytes, now: float, t: TimerConfig
    ) -> None:
        """Start in Calling: the INVITE ``request`` has just been sent to ``dest``."""
        super().__init__()
        self.branch = branch
        self.dest = dest
        self.request = request
        self.t = t
        self.state: ClientState = "calling"
        self.provisional = False
        self.cancel: bytes | None = None
        """The CANCEL we sent (retransmitted until answered)."""
        self.cancel_pending = False
        """A CANCEL is wanted but waits for a provisional response (RFC 3261 9.1)."""
        self.c_fired = False
        self.a_interval = t.t1
        self.e_interval = t.t1
        self._arm("A", now + t.t1)
        self._arm("B", now + 64 * t.t1)
        self._arm("C", now + t.c)

    def on_response(self, status: int, now: float) -> str:
        """A response to the INVITE: ``forward``, ``ack_forward``, ``ack`` or ``drop``."""
        if status < 200:
            if self.state not in ("calling", "proceeding"):
                return DROP
            self.state = "proceeding"
            self._disarm("A", "B")
            if status > 100:
                self.provisional = True
                if not self.c_fired:
                    self._arm("C", now + self.t.c)  # 16.7 step 2: reset C on 101-199
            return FORWARD
        if self.state in ("calling", "proceeding"):
            if status < 300:
                self.state = "terminated"
                self.timers.clear()
                self._update()
                self.request = b""  # never retransmitted again (17.1.1.2: 2xx ends it)
                return FORWARD
            self.state = "completed"
            keep = {k: v for k, v in self.timers.items() if k in ("E", "F")}
            self.timers = keep
            self._arm("D", now + 32.0)
            return ACK_FORWARD
        if self.state == "completed" and status >= 300:
            return ACK  # a retransmitted final response: ACK again, forward nothing
        return DROP

    def start_cancel(self, data: bytes, now: float) -> None:
        """Send CANCEL ``data`` now and retransmit it (Timer E) until answered or F fires."""
        self.cancel = data
        self.cancel_pending = False
        self._arm("E", now + self.e_interval)
        self._arm("F", now + 64 * self.t.t1)

    def cancel_answered(self) -> None:
        """Any response to our CANCEL stops its retransmission."""
        self._disarm("E", "F")

    def on_timer(self, now: float) -> list[ClientEvent]:
        """Run due timers and say what the proxy must do."""
        events: list[ClientEvent] = []
        for name in self._due(now):
            if name == "A" and self.state == "calling":
                self.a_interval *= 2
                self._arm("A", now + self.a_interval)
                events.append("retransmit")
            elif name == "B" and self.state == "calling":
                self.state = "terminated"
                self.timers.clear()
                events.append("timeout")
            elif name == "C" and self.state in ("calling", "proceeding"):
                # 16.8: with a provisional, CANCEL; without one, behave as on a 408.
                if self.provisional and not self.c_fired:
                    self.c_fired = True
                    self._arm("C", now + 64 * self.t.t1)
                    events.append("cancel")
                else:
                    self.state = "terminated"
                    self.timers.clear()
                    events.append("timeout")
            elif name == "D":
                self.state = "terminated"
                self.timers.clear()
                events.append("terminated")
            elif name == "E" and self.cancel is not None:
                self.e_interval = min(2 * self.e_interval, self.t.t2)
                self._arm("E", now + self.e_interval)
                events.append("resend_cancel")
            elif name == "F":
                self._disarm("E")
        self._update()
        return events
