"""Prometheus metrics of the API (server/metrics.py; issue 12)."""

from __future__ import annotations

import pathlib

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ._serve import Server, add_key
from .conftest import RULES, Api


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_requests_by_route_decisions_and_rules(api: Api) -> None:
    h = api.h("admin_a")
    for to in ("09001 123456", "09001 654321", "030 1234567"):
        assert api.client.get("/v1/decisions", params={"to": to}, headers=h).status_code == 200
    assert api.client.get("/v1/accounts/ghost", headers=h).status_code == 404
    r = api.client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    s = _samples(r.text)
    route = (("method", "GET"), ("route", "/v1/decisions"), ("status", "200"))
    assert s[("callpolicy_http_requests_total", route)] == 3
    # Paths are never labels: the account id in the path stays out of the series.
    ghost = (("method", "GET"), ("route", "/v1/accounts/{account_id}"), ("status", "404"))
    assert s[("callpolicy_http_requests_total", ghost)] == 1
    blocked = (("reason", "premium_rate"), ("verdict", "block"))
    assert s[("callpolicy_decisions_total", blocked)] == 2
    assert s[("callpolicy_decisions_total", (("reason", "allowed"), ("verdict", "allow")))] == 1
    latency = (("le", "+Inf"), ("method", "GET"), ("route", "/v1/decisions"))
    assert s[("callpolicy_http_request_duration_seconds_bucket", latency)] == 3
    revision = api.client.get("/v1/rules", headers=api.h("operator")).json()["revision"]
    assert s[("callpolicy_rules_info", (("revision", revision),))] == 1
    assert s[("callpolicy_follower_state", (("state", "OK"),))] == 1


def test_metrics_of_two_workers_add_up(tmp_path: pathlib.Path) -> None:
    """A real server with two uvicorn workers: any scrape sums both (multiprocess mode)."""
    url = f"sqlite:///{tmp_path / 'state.db'}"
    operator = add_key(url, "operator")
    with Server(str(RULES), url, extra=["--workers", "2"]) as server:
        for _ in range(20):  # new connections: the kernel spreads them over the workers
            with httpx.Client(base_url=server.url, timeout=10) as one:
                assert one.get("/v1/rules", headers={"X-API-Key": operator}).status_code == 200
        s = _samples(httpx.get(f"{server.url}/metrics", timeout=10).text)
    key = (("method", "GET"), ("route", "/v1/rules"), ("status", "200"))
    assert s[("callpolicy_http_requests_total", key)] == 20
