"""Reload you can trust (issue 12): SIGHUP reloads under sipp load fail no call, and a
broken rule file is refused by every worker, reported with file:line, while the rules
running before keep serving.

A real ``python -m sip_edge`` with two workers (SO_REUSEPORT; the first passes SIGHUP
on) serves from ``rules``, a symlink to one of two release directories, as a deploy
would: ``rules-a`` (the shipped rules) and ``rules-b`` (the same plus one operator
block), so every reload really changes the revision served. Two sipp UACs place
allowed calls (each must be answered 200 by the carrier's sipp UAS) and blocked calls
(each must get 403 with the premium-rate Reason) at a fixed moderate rate, one socket
per call so both workers carry them; between reloads the test waits until each
worker's ``/metrics`` shows the reload and the new revision. Then a broken
``blocks.toml`` is written into the live directory and SIGHUP sent: each worker must
refuse it (``/metrics``, ``/health`` with ``file:line``, the log, the store's node
status) and keep serving the last good revision, which a probe call confirms.

The CI version keeps to a moderate rate and ~20 s; ``benchmarks/reload_load.py`` does
the issue's run (half the edge's highest rate, 60 s, 10 reloads and a broken file).
Waits are bounded; nothing asserts a duration.
"""

from __future__ import annotations

import functools
import pathlib
import re
import signal
import socket
import time
from collections.abc import Iterator

import pytest

from policy.state.store import SqliteStore
from tests._procs import free_port

from ._load import (
    BROKEN,
    BROKEN_LINE,
    PROBE,
    Load,
    admin_ports,
    health,
    lift_dialer_limits,
    load_args,
    metric,
    point,
    releases,
    revision,
    scrape,
    second_release,
    wait_until,
    write_atomically,
)
from .conftest import invite
from .test_signals import events, msg_is, wait_for
from .test_sipp import SIPP, Edge, _start_edge, ereg, scenario, wait_bound

pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp binary not found (CI installs it)")

#: Calls per second of each kind (allowed and blocked): a moderate load for shared CI
#: machines (the edge holds several thousand per second).
RATE = 150
#: Successful reloads before the broken one: odd, so the rules kept are rules-b's.
GOOD_RELOADS = 5
#: Seconds of load before the first reload, between reloads and after the broken one.
LEAD, GAP, TAIL = 2.0, 1.0, 3.0
ALLOWED, BLOCKED = "+4930555000", "09001234567"


def _releases(rules: pathlib.Path) -> None:
    """``rules`` becomes a symlink to ``rules-a`` (the edge is started on the link)."""
    lift_dialer_limits(rules)
    releases(rules)


@pytest.fixture
def edge(tmp_path: pathlib.Path) -> Iterator[tuple[Edge, int]]:
    """Two workers on the symlinked rules, admin listeners on ``admin`` and ``admin+1``."""
    d = tmp_path / "edge"
    d.mkdir()
    admin = admin_ports(2)
    tables = (
        f"[admin]\nport = {admin}\n[logging]\nstats_interval = 0\n"
        f'[decision_log]\npath = "{d / "decisions.jsonl"}"\n'
    )
    for e in _start_edge(d, 2, tables, rules_edit=_releases):
        wait_for(e, msg_is("worker 1 listening on"))
        wait_for(e, msg_is("worker 1: admin on"))
        yield e, admin


def probe(port: int, to: str) -> bytes:
    """An INVITE from the trunk; the first final answer (a forwarded call gets none)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.2", 0))
        s.settimeout(10.0)
        s.sendto(invite(to=to), ("127.0.0.1", port))
        while True:
            data = s.recv(65535)
            if re.match(rb"SIP/2.0 [2-6]", data):
                return data


def test_reloads_under_load_fail_no_call_and_a_broken_file_is_refused(
    edge: tuple[Edge, int],
) -> None:
    e, admin = edge
    workers = (admin, admin + 1)
    link = e.dir / "rules"
    second_release(link)  # now that the carriers of rules-a point at the test's UASs
    blocks_b = e.dir / "rules-b" / "blocks.toml"

    carrier_xml = scenario(e, "uas_answer.xml", CHECKS=ereg(rf"^INVITE sip:\{ALLOWED}@"))
    refused_xml = scenario(
        e,
        "uac_refused.xml",
        STATUS="403",
        CHECKS=ereg(r"cause=21;text=\"premium_rate \(premium-rate .*blocks\.toml:", "Reason:"),
    )
    call_xml = scenario(e, "uac_call.xml")
    carrier = Load(load_args(carrier_xml, "127.0.0.1", e.carrier_de, 0), e.dir, "carrier")
    wait_bound("127.0.0.1", e.carrier_de, carrier.proc)
    loads = [
        trunk_load(e, call_xml, "allowed", ALLOWED, "privacy", "none"),
        trunk_load(e, refused_xml, "blocked", BLOCKED, "codec", "8 101"),
    ]
    try:
        first = {revision(scrape(p)) for p in workers}
        assert len(first) == 1, first
        served = [first.pop()]  # the revision each worker serves after each reload
        time.sleep(LEAD)
        for n in range(1, GOOD_RELOADS + 1):
            point(link, "rules-b" if n % 2 else "rules-a")
            e.proc.send_signal(signal.SIGHUP)
            for p in workers:
                wait_until(functools.partial(reloaded, p, "ok", n))
            now = {revision(scrape(p)) for p in workers}
            assert len(now) == 1 and served[-1] not in now, (served, now)  # a new revision
            served.append(now.pop())
            time.sleep(GAP)
        assert served[1::2] == [served[1]] * len(served[1::2])  # rules-b's revision
        assert served[0::2] == [served[0]] * len(served[0::2])  # rules-a's

        good = blocks_b.read_text()
        write_atomically(blocks_b, good + BROKEN)
        line = (good + BROKEN).splitlines().index(BROKEN_LINE) + 1
        located = f"{link / 'blocks.toml'}:{line}: rule_schema_error"
        e.proc.send_signal(signal.SIGHUP)
        for p in workers:
            wait_until(functools.partial(reloaded, p, "failed", 1))
        time.sleep(TAIL)  # the old rules keep serving the load
        assert_refused_everywhere(e, workers, located, kept=served[-1])
    finally:
        results = [(load.name, *load.stop(), load.tail()) for load in [*loads, carrier]]
    for name, code, counts, tail in results:
        assert code == 0 and counts.failed == 0, f"{name}: {counts}\n{tail}"
        assert counts.ok == counts.created > 0, f"{name}: {counts}"
    assert results[2][2].ok == results[0][2].ok  # the carrier answered every allowed call
    assert e.proc.poll() is None


def trunk_load(e: Edge, xml: str, name: str, number: str, key: str, value: str) -> Load:
    """Calls to ``number`` from the trunk at ``RATE`` per second, one socket per call
    (the kernel spreads the sockets over the workers)."""
    args = load_args(xml, "127.0.0.2", free_port("127.0.0.2"), RATE, "-t", "un", "-s", number)
    args += ["-key", "from", "+493012345001", "-key", key, value, f"127.0.0.1:{e.port}"]
    return Load(args, e.dir, name)


def reloaded(port: int, result: str, n: int) -> bool:
    """Whether the worker's admin on ``port`` counts ``n`` SIGHUP reloads with ``result``
    (ok, failed)."""
    return metric(scrape(port), "callpolicy_rules_reloads_total", result=result) == n


def assert_refused_everywhere(e: Edge, workers: tuple[int, int], located: str, kept: str) -> None:
    """Each worker refused the broken file, says where it is broken and serves ``kept``."""
    for p in workers:
        s = scrape(p)
        assert revision(s) == kept
        assert metric(s, "callpolicy_rules_last_reload_failed") == 1
        doc = health(p)
        assert doc["status"] == "degraded" and doc["rules_revision"] == kept
        assert located in doc["reload_error"], doc
    failed = [ev for ev in events(e) if ev.get("event") == "reload" and ev.get("ok") is False]
    assert {str(ev["msg"]).split(":")[0] for ev in failed} == {
        "sip_edge worker 0",
        "sip_edge worker 1",
    }
    assert all(located in str(ev["errors"]) and ev["revision"] == kept for ev in failed)
    store = SqliteStore(str(e.dir / "state.db"))
    try:
        nodes = [n for n in store.nodes() if n.kind == "edge"]
    finally:
        store.close()
    assert len(nodes) == 2, nodes
    assert all(located in n.reload_error and n.revision == kept for n in nodes), nodes
    # rules-b's own block still refuses: the rules kept are the last good ones.
    answer = probe(e.port, PROBE)
    assert answer.startswith(b"SIP/2.0 403 ") and b"reload-b blocks.toml:" in answer, answer
