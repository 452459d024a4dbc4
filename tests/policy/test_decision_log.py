"""The decision log (policy/percall/decision_log.py): ids, masking, the writer, rotation."""

from __future__ import annotations

import pathlib
import threading

from policy import (
    AccountPolicy,
    Call,
    DecisionLog,
    IdSource,
    Snapshot,
    compile_account,
    decide,
    event_of,
    mask,
    read_events,
)


def test_mask_hides_the_last_digits_only() -> None:
    assert mask("+49 30 1234567", 4) == "+49 30 123XXXX"
    assert mask("4930123", 0) == "4930123"
    assert mask("12", 4) == "XX"


def test_ids_are_unique_across_threads_and_name_the_node() -> None:
    ids = IdSource("edge1", 1_767_225_600)
    seen: list[str] = []
    threads = [
        threading.Thread(target=lambda: seen.extend(ids.next() for _ in range(1000)))
        for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(seen)) == 4000 and all(i.startswith("edge1-") for i in seen)


def test_event_of_a_refusal_and_an_emergency(snapshot: Snapshot) -> None:
    acct = compile_account(snapshot, AccountPolicy(account="acme", npn="+4930123456"))
    refused = decide(snapshot, Call(to="09001 123456"), acct)
    e = event_of(refused, decision_id="n-1-1", ts=5.0, node="n", revision="r", account="acme",
                 dial="09001 123456", mask_digits=4)  # fmt: skip
    assert (e.verdict, e.reason, e.sip_status, e.number, e.dial) == (
        "block", "premium_rate", 403, "49900112XXXX", "09001 12XXXX"
    )  # fmt: skip
    assert e.rule.startswith("premium-rate (blocks.toml:")
    sos = event_of(decide(snapshot, Call(to="112"), acct), decision_id="n-1-2", ts=5.0,
                   node="n", revision="r", account="acme", dial="112", mask_digits=0)  # fmt: skip
    assert (sos.identity, sos.route != "") == ("emergency", True)


def test_writer_writes_rotates_and_counts_drops(tmp_path: pathlib.Path, snapshot: Snapshot) -> None:
    acct = compile_account(snapshot, AccountPolicy(account="acme"))
    d = decide(snapshot, Call(to="+4930123456"), acct)
    ids = IdSource("api", 0)
    path = str(tmp_path / "log" / "decisions.jsonl")
    log = DecisionLog(path, max_bytes=20_000, backups=2, buffer=100_000, batch=100)
    for i in range(1000):
        log.record(event_of(d, decision_id=ids.next(), ts=float(i), node="api", revision="r",
                            account="acme", dial="+4930123456", mask_digits=2))  # fmt: skip
    assert log.flush()
    log.close()
    files = sorted(p.name for p in (tmp_path / "log").iterdir())
    assert files == ["decisions.jsonl", "decisions.jsonl.1", "decisions.jsonl.2"]
    assert log.rotations >= 2 and log.written == 1000 and log.dropped == 0
    kept = list(read_events([path + ".2", path + ".1", path]))
    assert kept and [e.ts for e in kept] == sorted(e.ts for e in kept)  # oldest file first
    assert kept[-1].id == "api-0-rs" and kept[-1].number == "49301234XX"  # 1000 in base 36

    full = DecisionLog(str(tmp_path / "full.jsonl"), buffer=10, batch=10_000)
    full._stop.set()  # a writer that never writes: the buffer fills, records are dropped
    full._wake.set()
    full._thread.join()
    for _ in range(15):
        full.record(kept[0])
    assert full.dropped == 5
    full._file.close()
