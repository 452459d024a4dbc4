"""Benchmark: store operations on SQLite (WAL, synchronous=FULL) and Redis (AOF always).

Each backend runs in its own process. Per operation the table gives the median latency of
a call; the writes include the fsync the ledger needs, so the numbers depend on the disk
far more than on the code (record the machine in benchmarks/RESULTS.md). Kept because the
write path's fsync is what bounds unblocks per second, and the pair shows the price of the
embedded default against Redis.

    python benchmarks/store.py [--json] [--quick] [--redis redis://127.0.0.1:6400/0]

Without ``--redis`` a private redis-server (if installed) is started on a free port with
``--appendonly yes --appendfsync always``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

OPS = ("get_account", "update_account", "unblock", "changes_since")


def _timed(fn: Callable[[int], object], n: int) -> float:
    """Median seconds of ``fn(i)`` over ``n`` calls."""
    samples = []
    for i in range(n):
        t0 = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def run_backend(url: str, n: int) -> dict[str, float]:
    """Median latency of each operation against the store at ``url``."""
    import msgspec

    from policy import Account, BlockTarget, open_store

    store = open_store(url)
    try:
        store.create_account(Account(id="bench", npn="4930123456"), now=0.0)

        def add(a: Account) -> Account:
            return msgspec.structs.replace(a, name=str(a.version))

        def unblock(i: int) -> object:
            t = BlockTarget("operator", f"b{i}")
            return store.unblock("bench", t, 100, "r", f"k{i}", "h", add, float(i))

        results = {
            "get_account": _timed(lambda i: store.get_account("bench"), n),
            "update_account": _timed(lambda i: store.update_account("bench", add, float(i)), n),
            "unblock": _timed(unblock, n),
        }
        last = store.last_seq()  # a follower that is 10 events behind
        results["changes_since"] = _timed(lambda i: store.changes_since(last - 10), n)
        return results
    finally:
        store.close()


def _child(url: str, n: int) -> dict[str, float]:
    out = subprocess.run(
        [sys.executable, __file__, "--child", url, "--n", str(n)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(out)
    return result


def _start_redis(workdir: str) -> tuple[subprocess.Popen[bytes], str] | None:
    binary = shutil.which("redis-server")
    if binary is None:
        return None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = ["--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "yes",
            "--appendfsync", "always", "--dir", workdir]  # fmt: skip
    proc = subprocess.Popen([binary, *args], stdout=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    client.close()
    return proc, f"redis://127.0.0.1:{port}/0"


def main() -> None:
    """Run every backend and print a table (or JSON)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--quick", action="store_true", help="few iterations (smoke test)")
    p.add_argument("--redis", help="use this Redis instead of starting one")
    p.add_argument("--n", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        print(json.dumps(run_backend(args.child, args.n)))
        return
    n = 20 if args.quick else 500
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["sqlite"] = _child(f"sqlite://{tmp}/bench.db", n)
        server = None if args.redis else _start_redis(tmp)
        url = args.redis or (server[1] if server else None)
        try:
            if url:
                results["redis"] = _child(url, n)
        finally:
            if server:
                server[0].terminate()
                server[0].wait()
    if args.json:
        print(json.dumps({"n": n, "python": sys.version.split()[0], "results": results}))
        return
    names = list(results)
    print(f"{'operation':<16}" + "".join(f"{b:>14}" for b in names))
    for op in OPS:
        print(f"{op:<16}" + "".join(f"{results[b][op] * 1e6:>12.0f}us" for b in names))


if __name__ == "__main__":
    main()
