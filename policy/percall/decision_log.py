"""The decision log: one JSON line per decision, written off the hot path (OPA decision logs).

Each decision gets an id (``<node>-<start>-<counter>``, unique across nodes and restarts
without coordination) that the API returns and the edge puts on every refusal, so a
customer's complaint about a refused call leads straight to its line. A line holds the
time, node, rules revision, account, the dialled and canonical number (the last
``mask_digits`` digits replaced by ``X``: the log is kept longer than the numbers may be),
verdict, reason, rule ``file:line``, SIP status, route and identity mode.

Off the hot path: :meth:`DecisionLog.record` appends an already built event to a bounded
deque (a lock-free append under the GIL) and returns; a writer thread encodes and writes
batches and rotates the file by size. When the writer falls behind and the buffer is full,
new events are dropped and counted (``dropped``), never waited for: a slow disk must not
slow calls. ``callpolicy diff`` replays these files (``policy.compiler.whatif``).
"""

from __future__ import annotations

import itertools
import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Literal

import msgspec

from policy.rules.model import Decision

__all__ = [
    "DecisionEventV1",
    "DecisionLog",
    "DecisionRecorder",
    "IdSource",
    "ReplayKey",
    "encode_event",
    "event_of",
    "mask",
    "read_events",
    "read_replay_keys",
]

IdentityMode = Literal["upn", "npn", "emergency", "none"]


class DecisionEventV1(msgspec.Struct, frozen=True, kw_only=True):
    """One line of the decision log (not ``forbid_unknown_fields``: newer writers may add)."""

    schema: int = 1
    id: str
    ts: float
    node: str
    revision: str
    account: str
    dial: str
    """The dial string as received, masked."""
    number: str
    """Canonical E.164 digits, masked ('' when the dial string was not a number)."""
    verdict: str
    reason: str
    rule: str = ""
    """``id (file:line)`` of the rule that decided."""
    sip_status: int = 0
    route: str = ""
    identity: IdentityMode = "none"
    masked: int = 0
    """How many trailing digits were masked (``callpolicy diff`` must know)."""


def mask(text: str, digits: int) -> str:
    """``text`` with its last ``digits`` digits replaced by ``X`` (other characters kept)."""
    if digits <= 0:
        return text
    out = list(text)
    left = digits
    for i in range(len(out) - 1, -1, -1):
        if left == 0:
            break
        if out[i].isdigit():
            out[i] = "X"
            left -= 1
    return "".join(out)


class IdSource:
    """Decision ids: ``<node>-<start, base 36>-<counter, base 36>``; thread-safe."""

    def __init__(self, node: str, start: float) -> None:
        self.prefix = f"{node}-{_b36(int(start))}-"
        self._counter: Iterator[int] = itertools.count(1)  # next() is atomic under the GIL

    def share(self, counter: Iterator[int]) -> None:
        """Number from ``counter`` instead (one shared with a C data plane that writes
        ids itself, so that ids stay unique per process)."""
        self._counter = counter

    def next(self) -> str:
        """A new id."""
        return self.prefix + _b36(next(self._counter))

    def of(self, number: int) -> str:
        """The id of ``number`` of the sequence (one a data plane took)."""
        return self.prefix + _b36(number)


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def event_of(
    decision: Decision,
    *,
    decision_id: str,
    ts: float,
    node: str,
    revision: str,
    account: str,
    dial: str,
    mask_digits: int,
) -> DecisionEventV1:
    """The log line of one decision."""
    identity: IdentityMode = "none"
    if decision.verdict == "emergency":
        identity = "emergency"
    elif decision.identity is not None:
        identity = decision.identity.source
    return DecisionEventV1(
        id=decision_id,
        ts=ts,
        node=node,
        revision=revision,
        account=account,
        dial=mask(dial[:128], mask_digits),
        number=mask(decision.number, mask_digits),
        verdict=decision.verdict,
        reason=decision.reason,
        rule=str(decision.rule) if decision.rule else "",
        sip_status=decision.sip.status if decision.sip else 0,
        route=decision.route,
        identity=identity,
        masked=mask_digits,
    )


_encoder = msgspec.json.Encoder()


def _line(item: DecisionEventV1 | bytes) -> bytes:
    return item if isinstance(item, bytes) else _encoder.encode(item) + b"\n"


def encode_event(event: DecisionEventV1) -> bytes:
    """One line of the log as written (for writers that render parts of lines once)."""
    return _encoder.encode(event)


_decoder = msgspec.json.Decoder(DecisionEventV1)


class DecisionLog:
    """A bounded buffer and a writer thread appending JSON lines to ``path``, rotated by
    size (``path`` -> ``path.1`` -> ... ``path.<backups>``)."""

    def __init__(
        self,
        path: str,
        max_bytes: int = 100 * 2**20,
        backups: int = 5,
        buffer: int = 65_536,
        batch: int = 4096,
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._queue: deque[DecisionEventV1 | bytes] = deque()
        self._limit = buffer
        self._batch = batch
        self.written = 0
        self.dropped = 0
        self.rotations = 0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._drained = threading.Condition()
        self._cycles = 0
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._file = open(path, "ab")  # noqa: SIM115  (kept open; closed by close())
        self._thread = threading.Thread(target=self._run, name="decision-log", daemon=True)
        self._thread.start()

    def record(self, event: DecisionEventV1) -> None:
        """Queue ``event`` (never blocks; counted as dropped when the buffer is full)."""
        if len(self._queue) >= self._limit:
            self.dropped += 1
            return
        self._queue.append(event)
        if len(self._queue) >= self._batch:
            self._wake.set()

    def record_lines(self, lines: bytes) -> None:
        """Queue lines already encoded (a C data plane writes its own, ``sip_edge/fast``),
        one or more whole lines ending in a newline; counted as one entry of the buffer."""
        if len(self._queue) >= self._limit:
            self.dropped += lines.count(b"\n")
            return
        self._queue.append(lines)
        if len(self._queue) >= self._batch:
            self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(0.2)
            self._wake.clear()
            self._drain()
            with self._drained:
                self._cycles += 1
                self._drained.notify_all()
        self._drain()

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            n = min(len(queue), self._batch)
            data = b"".join(_line(queue.popleft()) for _ in range(n))
            if self._file.tell() + len(data) > self.max_bytes and self._file.tell() > 0:
                self._rotate()
            self._file.write(data)
            self.written += data.count(b"\n")
        self._file.flush()

    def _rotate(self) -> None:
        self._file.close()
        for i in range(self.backups - 1, 0, -1):
            older = f"{self.path}.{i}"
            if os.path.exists(older):
                os.replace(older, f"{self.path}.{i + 1}")
        if self.backups > 0:
            os.replace(self.path, f"{self.path}.1")
        else:
            os.remove(self.path)
        self._file = open(self.path, "ab")  # noqa: SIM115
        self.rotations += 1

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued before the call is written; False on timeout."""
        with self._drained:
            target = self._cycles + 2  # the cycle under way may have started before the call
            self._wake.set()
            return self._drained.wait_for(
                lambda: self._cycles >= target or not self._thread.is_alive(), timeout
            )

    def close(self) -> None:
        """Write what is queued, stop the writer and close the file."""
        self._stop.set()
        self._wake.set()
        self._thread.join()
        self._file.close()


def read_events(paths: Iterable[str]) -> Iterator[DecisionEventV1]:
    """The events of decision-log files, in file order; unreadable lines are skipped."""
    for path in paths:
        with open(path, "rb") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    yield _decoder.decode(line)
                except msgspec.DecodeError:
                    continue


class ReplayKey(msgspec.Struct, frozen=True):
    """What a replay needs of a log line: the account and the (masked) canonical number.

    Decoding only these two fields (msgspec skips the others without building them) is
    what lets ``callpolicy diff`` read a million lines in about a second.
    """

    account: str = ""
    number: str = ""


_keys_decoder = msgspec.json.Decoder(ReplayKey)


def read_replay_keys(paths: Iterable[str]) -> Iterator[ReplayKey]:
    """The (account, number) of every line of decision-log files; bad lines skipped."""
    decode = _keys_decoder.decode
    for path in paths:
        with open(path, "rb") as fh:
            for line in fh:
                try:
                    yield decode(line)
                except msgspec.DecodeError:
                    continue


class DecisionRecorder:
    """What a process uses per decision: a fresh id, and the log line when a log is set.

    ``record`` builds the event only when there is a log to write it to; the id is always
    made (the API returns it, the edge puts it on refusals).
    """

    def __init__(self, node: str, start: float, log: DecisionLog | None, mask_digits: int) -> None:
        self.node = node
        self.log = log
        self.mask_digits = mask_digits
        self._ids = IdSource(node, start)

    def record(
        self, decision: Decision, *, account: str, dial: str, revision: str, now: float
    ) -> str:
        """The decision's id (its line queued on the log, if any)."""
        decision_id = self._ids.next()
        self.record_as(
            decision_id, decision, account=account, dial=dial, revision=revision, now=now
        )
        return decision_id

    @property
    def id_prefix(self) -> str:
        """What every id of this recorder starts with (``<node>-<start>-``)."""
        return self._ids.prefix

    def share_ids(self, counter: Iterator[int]) -> None:
        """Number ids from ``counter`` (see ``IdSource.share``)."""
        self._ids.share(counter)

    def id_of(self, number: int) -> str:
        """The id numbered ``number`` (taken by a data plane)."""
        return self._ids.of(number)

    def record_as(
        self,
        decision_id: str,
        decision: Decision,
        *,
        account: str,
        dial: str,
        revision: str,
        now: float,
    ) -> None:
        """Queue the log line of a decision whose id was already given out."""
        if self.log is not None:
            self.log.record(
                event_of(
                    decision,
                    decision_id=decision_id,
                    ts=now,
                    node=self.node,
                    revision=revision,
                    account=account,
                    dial=dial,
                    mask_digits=self.mask_digits,
                )
            )

    def record_lines(self, lines: bytes) -> None:
        """Queue log lines a C data plane wrote itself (ids from :meth:`share_ids`)."""
        if self.log is not None:
            self.log.record_lines(lines)

    def close(self) -> None:
        """Write what is queued and close the log."""
        if self.log is not None:
            self.log.close()
