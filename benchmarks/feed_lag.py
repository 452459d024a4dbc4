"""Benchmark: change-feed lag, API commit -> edge enforcing, on a real Redis Cluster.

Target (issue 12): p99 under 100 ms on this machine. A Redis Cluster (3 masters, 3
replicas), one API process and two edges, all on loopback. Each round blocks a fresh
prefix through the API and then sends INVITEs to a number under it to each edge until
the edge answers 403; the lag is the time from the API's 201 to that 403 (so it includes
one INVITE round trip, about a millisecond, which bounds the resolution). The SQLite
row runs the same on the embedded store (edges poll it every 100 ms).

    python benchmarks/feed_lag.py [--rounds N] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import httpx  # noqa: E402

from policy.state.store import open_store  # noqa: E402
from tests._procs import stop  # noqa: E402
from tests._redis_cluster import RedisCluster  # noqa: E402
from tests.cluster.test_many_nodes import _edge, _status  # noqa: E402
from tests.server._serve import Server, add_key  # noqa: E402
from tests.sip.conftest import acme  # noqa: E402


def _measure(store_url: str, work: pathlib.Path, rounds: int) -> list[float]:
    store = open_store(store_url)
    try:
        store.create_account(acme(), time.time())
    finally:
        store.close()
    admin = {"X-API-Key": add_key(store_url, "admin", "acme")}
    api = Server(os.path.join(ROOT, "rules"), store_url, log=str(work / "api.log")).start()
    edges = [_edge(work / f"edge{i}", store_url) for i in (1, 2)]
    lags: list[float] = []
    try:
        with httpx.Client(base_url=api.url, timeout=10) as c:
            for r in range(rounds):
                prefix = f"+49305{r:04d}"
                body = {"kind": "prefix", "value": prefix}
                if r == 0:  # a forwarded INVITE holds a transaction (no carrier): check once
                    before = [_status(port, prefix + "77") for _, port in edges]
                    assert before == [100, 100], f"{prefix}77 is refused before the block"
                resp = c.post("/v1/accounts/acme/blocks", json=body, headers=admin)
                committed = time.perf_counter()
                assert resp.status_code == 201, resp.text
                for _, port in edges:
                    while _status(port, prefix + "77") != 403:
                        if time.perf_counter() - committed > 5:
                            raise AssertionError("a change did not reach an edge in 5 s")
                    lags.append(time.perf_counter() - committed)
    finally:
        for proc, _ in edges:
            stop(proc, 10)
        api.stop()
    return lags


def _row(name: str, lags: list[float]) -> dict[str, object]:
    ms = sorted(x * 1000 for x in lags)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    return {"store": name, "n": len(ms), "p50_ms": round(statistics.median(ms), 1),
            "p99_ms": round(p99, 1), "max_ms": round(ms[-1], 1)}  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cluster = RedisCluster(pathlib.Path(tmp, "cluster")).start()
        try:
            work = pathlib.Path(tmp, "redis")
            work.mkdir()
            rows.append(_row("redis cluster", _measure(cluster.url, work, args.rounds)))
        finally:
            cluster.stop()
        work = pathlib.Path(tmp, "sqlite")
        work.mkdir()
        rows.append(_row("sqlite", _measure(f"sqlite:///{work / 'state.db'}", work, args.rounds)))
    if args.json:
        print(json.dumps({"rows": rows, "python": platform.python_version()}))
        return 0
    print("| store | changes x edges | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['store']} | {r['n']} | {r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
