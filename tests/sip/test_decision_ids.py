"""Decision ids on the edge's refusals and the edge's decision log (issue 12).

A refused call carries ``Callpolicy-Decision: <id>``; the same id names its line in the
decision log, so a customer's complaint about a refused call leads straight to the log.
Retransmissions are answered with the same bytes, so with the same id.
"""

from __future__ import annotations

import pathlib

from policy import DecisionLog, DecisionRecorder, read_events
from policy.percall.runtime import PolicyRuntime

from .conftest import Harness, invite


def _recorded(h: Harness, path: pathlib.Path) -> DecisionRecorder:
    recorder = DecisionRecorder("edge1", 0, DecisionLog(str(path)), 4)
    h.core.decisions = recorder
    return recorder


def test_refusals_carry_their_decision_id_and_are_logged(
    runtime: PolicyRuntime, tmp_path: pathlib.Path
) -> None:
    h = Harness(runtime)
    recorder = _recorded(h, tmp_path / "decisions.jsonl")
    first = invite(to="+499001123456")
    ((answer, _),) = h.send(first)
    again = h.send(first)  # a retransmission: the same answer, the same id
    ((second, _),) = h.send(invite(to="+499001123456"))  # a new call: the fast path's cache
    ids = [answer.get("callpolicy-decision"), again[0][0].get("callpolicy-decision"),
           second.get("callpolicy-decision")]  # fmt: skip
    assert answer.status == 403 and ids[0] == ids[1] and ids[0] != ids[2]
    assert all(i and i.startswith("edge1-") for i in ids)
    recorder.close()
    lines = list(read_events([str(tmp_path / "decisions.jsonl")]))
    assert [e.id for e in lines] == [ids[0], ids[2]]
    assert {(e.account, e.verdict, e.reason, e.sip_status) for e in lines} == {
        ("acme", "block", "premium_rate", 403)
    }
    assert all(e.dial.endswith("XXXX") and e.number.endswith("XXXX") for e in lines)


def test_allowed_calls_carry_no_id_and_without_a_recorder_nothing_changes(
    runtime: PolicyRuntime, tmp_path: pathlib.Path
) -> None:
    h = Harness(runtime)
    trying, _ = h.call()
    assert trying.get("callpolicy-decision") is None
    plain = Harness(runtime)
    ((answer, _),) = plain.send(invite(to="+499001123456"))
    assert answer.status == 403 and answer.get("callpolicy-decision") is None
