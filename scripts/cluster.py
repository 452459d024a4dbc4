"""Start a local Redis Cluster, two API processes and two SIP edges on it (scripts/cluster.sh)."""

from __future__ import annotations

import pathlib
import signal
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from policy.state.store import open_store  # noqa: E402
from tests._procs import stop  # noqa: E402
from tests._redis_cluster import RedisCluster  # noqa: E402
from tests.cluster.test_many_nodes import _edge  # noqa: E402
from tests.server._serve import Server, add_key  # noqa: E402
from tests.sip.conftest import acme  # noqa: E402


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="callpolicy-cluster-") as tmp:
        work = pathlib.Path(tmp)
        cluster = RedisCluster(work / "redis").start()
        # Three replicas: a charge is acknowledged once one of them holds it (WAIT).
        url = cluster.url + "?wait_replicas=1"
        store = open_store(url)
        try:
            store.create_account(acme(), time.time())
        finally:
            store.close()
        operator = add_key(url, "operator")
        apis = [Server(str(ROOT / "rules"), url, log=str(work / f"api{i}.log")) for i in (1, 2)]
        edges = []
        try:
            for api in apis:
                api.start()
            edges = [_edge(work / f"edge{i}", url) for i in (1, 2)]
            print(f"store:     {url}")
            print(f"operator:  {operator}")
            for i, api in enumerate(apis, 1):
                print(f"API {i}:     {api.url}")
            for i, (_, port) in enumerate(edges, 1):
                print(f"edge {i}:    udp 127.0.0.1:{port} (trunk 127.0.0.2 -> account acme)")
            print(f"logs:      {work}  (Ctrl-C stops everything)")
            signal.sigwait({signal.SIGINT, signal.SIGTERM})
        finally:
            for proc, _ in edges:
                stop(proc, 10)
            for api in apis:
                if api.proc is not None:
                    api.stop()
            cluster.stop()
    return 0


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    raise SystemExit(main())
