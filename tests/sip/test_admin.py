"""The edge's admin listener: /metrics, /health, /ready (sip_edge/admin.py; issue 12)."""

from __future__ import annotations

import pathlib
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from policy.state.store import SqliteStore
from sip_edge.admin import exposition
from tests._procs import free_port, stop
from tests.cluster.test_many_nodes import _edge, _status

from .conftest import acme


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_exposition_is_valid_prometheus_text() -> None:
    text = exposition(
        {"refused_premium_rate": 3, 'odd"name': 1}, {"calls_in_setup": 2.0}, "abc", "OK", 0
    )
    s = _samples(text)
    event = (("event", "refused_premium_rate"), ("worker", "0"))
    assert s[("callpolicy_sip_events_total", event)] == 3
    assert s[("callpolicy_sip_events_total", (("event", 'odd"name'), ("worker", "0")))] == 1
    assert s[("callpolicy_sip_calls_in_setup", (("worker", "0"),))] == 2
    assert s[("callpolicy_rules_info", (("revision", "abc"), ("worker", "0")))] == 1


def test_a_running_edge_serves_metrics_health_and_ready(tmp_path: pathlib.Path) -> None:
    store = SqliteStore(str(tmp_path / "state.db"))
    store.create_account(acme(), time.time())
    store.close()
    admin = free_port()
    proc, port = _edge(
        tmp_path / "edge", f"sqlite:///{tmp_path / 'state.db'}", f"[admin]\nport = {admin}\n"
    )
    try:
        assert _status(port, "+499001123456") == 0  # refused (premium rate)
        base = f"http://127.0.0.1:{admin}"
        refused = ("callpolicy_sip_events_total", (("event", "refused_premium_rate"),
                                                   ("worker", "0")))  # fmt: skip
        # The C plane refused it; its counters reach /metrics on the worker's 50 ms tick
        # (a loaded machine may delay the tick: waited for, up to a bound).
        deadline = time.monotonic() + 10
        while True:
            s = _samples(httpx.get(f"{base}/metrics", timeout=5).text)
            if s.get(refused, 0) >= 1 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert s.get(refused, 0) >= 1
        assert s[("callpolicy_follower_state", (("state", "OK"), ("worker", "0")))] == 1
        assert httpx.get(f"{base}/health", timeout=5).json()["status"] == "ok"
        ready = httpx.get(f"{base}/ready", timeout=5)
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        assert httpx.get(f"{base}/nope", timeout=5).status_code == 404
        assert httpx.post(f"{base}/metrics", timeout=5).status_code == 405
    finally:
        stop(proc, 10)
