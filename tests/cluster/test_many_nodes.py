"""Many nodes, one truth (issue 12): two API processes and two edges on one Redis Cluster.

A block made through API node 1 is enforced by edge 2; a rules change published once
reaches both edges. Everything runs as real processes on loopback: redis-server in cluster
mode (3 masters, 3 replicas), ``python -m server serve`` twice, ``python -m sip_edge``
twice.
"""

from __future__ import annotations

import pathlib
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from policy.state.store import RedisStore
from tests._procs import free_port, stop
from tests._redis_cluster import RedisCluster
from tests.server._serve import Server, add_key
from tests.sip.conftest import acme, invite, ping

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: Seconds an edge may take to start, and a change to reach an edge (bounds, not figures).
START_TIMEOUT = 30.0
REACH_TIMEOUT = 10.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server/redis-cli not found on PATH (CI installs them)")
    c = RedisCluster(tmp_path_factory.mktemp("cluster")).start()
    try:
        yield c
    finally:
        c.stop()


def _edge(d: pathlib.Path, store_url: str, extra: str = "") -> tuple[subprocess.Popen[bytes], int]:
    """An edge on ``store_url`` whose power-dialer limits allow a test's rapid INVITEs;
    ``extra`` is appended to its edge.toml."""
    rules = d / "rules"
    rules.mkdir(parents=True)
    for f in (ROOT / "rules").glob("*.toml"):
        shutil.copy(f, rules / f.name)
    dialer = rules / "power_dialer.toml"
    text = re.sub(
        r"max_attempts_per_second = \d+", "max_attempts_per_second = 100000", dialer.read_text()
    )
    dialer.write_text(
        re.sub(r"max_concurrent_setups = \d+", "max_concurrent_setups = 100000", text)
    )
    for _ in range(3):
        port, psap = free_port(), free_port()
        (d / "edge.toml").write_text(
            f'psap = "127.0.0.1:{psap}"\n[listen]\nhost = "127.0.0.1"\nport = {port}\n'
            '[[trunk]]\naddress = "127.0.0.2"\naccount = "acme"\n' + extra
        )
        cmd = [sys.executable, "-m", "sip_edge", "--config", str(d / "edge.toml")]
        cmd += ["--rules", str(rules), "--store", store_url]
        with (d / "edge.log").open("wb") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + START_TIMEOUT
        while not ping(port, 0.2):
            if proc.poll() is not None or time.monotonic() > deadline:
                break
        else:
            return proc, port
        stop(proc, 5)
    raise AssertionError(f"edge did not start:\n{(d / 'edge.log').read_text()[-3000:]}")


def _status(port: int, to: str) -> int:
    """Send an INVITE from the trunk to the edge; the status of its final answer (a 403
    counts only for a customer block: other refusals are 0), or 100 when forwarded."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.2", 0))
        s.settimeout(2.0)
        s.sendto(invite(to=to), ("127.0.0.1", port))
        while True:
            data, _ = s.recvfrom(65536)
            m = re.match(rb"SIP/2.0 (\d{3})", data)
            if m and int(m.group(1)) >= 200:
                status = int(m.group(1))
                return 0 if status == 403 and b"customer_block" not in data else status
            if m and int(m.group(1)) == 100:
                return 100  # forwarded: the policy let it through


def _eventually(port: int, to: str, want: int) -> int:
    deadline = time.monotonic() + REACH_TIMEOUT
    status = _status(port, to)
    while status != want and time.monotonic() < deadline:
        time.sleep(0.05)
        status = _status(port, to)
    return status


def test_a_block_through_api_node_1_is_enforced_by_edge_2(
    cluster: RedisCluster, tmp_path: pathlib.Path
) -> None:
    url = cluster.url
    store = RedisStore(url)
    try:
        store.create_account(acme(), time.time())
    finally:
        store.close()
    admin = add_key(url, "admin", "acme")
    procs: list[subprocess.Popen[bytes]] = []
    apis = [Server(str(ROOT / "rules"), url, log=str(tmp_path / f"api{i}.log")) for i in (1, 2)]
    try:
        for api in apis:
            api.start()
        edges = [_edge(tmp_path / f"edge{i}", url) for i in (1, 2)]
        procs.extend(p for p, _ in edges)
        blocked = "+4930555123"
        assert _status(edges[1][1], blocked) == 100  # allowed before
        with httpx.Client(base_url=apis[0].url, timeout=10) as c:
            r = c.post(
                "/v1/accounts/acme/blocks",
                json={"kind": "prefix", "value": "+4930555"},
                headers={"X-API-Key": admin},
            )
            assert r.status_code == 201, r.text
        assert _eventually(edges[1][1], blocked, 403) == 403
        assert _eventually(edges[0][1], blocked, 403) == 403
        with httpx.Client(base_url=apis[1].url, timeout=10) as c:  # node 2 sees it too
            blocks = c.get("/v1/accounts/acme/blocks", headers={"X-API-Key": admin}).json()
            assert {"kind": "prefix", "value": "4930555"} in blocks["blocks"]
        assert _status(edges[1][1], "112") == 100  # and nothing blocks an emergency call
    finally:
        for p in procs:
            stop(p, 10)
        for api in apis:
            api.stop()
