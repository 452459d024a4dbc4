"""Benchmark: the HTTP API under load from wrk, on SQLite and on Redis.

Starts a real server (``python -m server serve --workers 2``) on loopback for each store
backend (an SQLite file; a private ``redis-server`` with ``appendfsync always``), seeds
accounts and an operator key directly in the store, and drives two endpoints with wrk:

- ``GET /v1/decisions`` (the explain output for one call; key and account lookups);
- ``DELETE /v1/accounts/{id}/blocks/prefix/{value}``: chargeable unblocks, each request
  a distinct target and a distinct Idempotency-Key (generated in wrk's Lua), so every
  2xx is one durable ledger entry. Afterwards the ledger is counted against the 2xx.

Targets (issue 3): decisions >= 5,000 req/s with p99 < 10 ms; unblocks >= 500/s with the
ledger durable. wrk shares the machine's cores with the server: see RESULTS.md.

    python benchmarks/api.py [--quick] [--json] [--backends sqlite,redis]
                             [--duration S] [--connections N] [--threads N]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import httpx  # noqa: E402
import redis  # noqa: E402

from policy import Account, Holding, open_store  # noqa: E402
from server.auth import add_key  # noqa: E402
from tests._procs import free_port  # noqa: E402

RULES = os.path.join(ROOT, "rules")
PREFIX_BASE = 1_000_000  # blocked prefixes are +4930 1000000 + i

#: Dial strings of the decisions run: allow, premium block, emergency, directory, invalid.
NUMBERS = ["030%2098765432", "09001123456", "112", "11833", "%2B44%2020%207946%200000", "0xx"]

DECISIONS_LUA = """
local numbers = {%(numbers)s}
local n = 0
request = function()
  n = n + 1
  local path = "/v1/decisions?account=bench-0000&to=" .. numbers[(n %% #numbers) + 1]
  return wrk.format("GET", path, {["Authorization"] = "Bearer %(key)s"})
end
%(done)s
"""

UNBLOCK_LUA = """
local counter = 0
local nthreads = %(threads)d
local accounts = %(accounts)d
local per_account = %(per_account)d
local threads = {}
tid = 0
function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end
request = function()
  -- j runs over 0, 1, 2 ... across all threads without overlap; consecutive requests go
  -- to different accounts, so they do not contend for one account's record.
  local j = %(offset)d + tid + nthreads * counter
  counter = counter + 1
  local a = j %% accounts
  local p = math.floor(j / accounts) %% per_account
  local path = string.format(
    "/v1/accounts/bench-%%04d/blocks/prefix/%%%%2B4930%%07d", a, %(base)d + p)
  return wrk.format("DELETE", path, {
    ["Authorization"] = "Bearer %(key)s",
    ["Idempotency-Key"] = "%(run)s-" .. j,
  })
end
%(done)s
"""

DONE_LUA = """
done = function(summary, latency, requests)
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, ' ..
    '"status": %d, "connect": %d, "read": %d, "write": %d, "timeout": %d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.status, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout))
end
"""


@dataclass
class Row:
    """One measured (backend, endpoint) pair."""

    backend: str
    endpoint: str
    connections: int
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    note: str = ""


def wait_for(check: object, what: str, deadline: float = 60.0) -> None:
    """Poll ``check()`` until true."""
    end = time.monotonic() + deadline
    while True:
        with contextlib.suppress(Exception):
            if check():  # type: ignore[operator]
                return
        if time.monotonic() > end:
            raise SystemExit(f"gave up waiting for {what}")
        time.sleep(0.05)


@contextlib.contextmanager
def redis_server(tmp: str) -> Iterator[str]:
    """A private redis-server with the ledger durable (AOF, fsync on every write)."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit("redis-server not found (apt-get install -y redis-server)")
    port = free_port()
    proc = subprocess.Popen(
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", tmp, "--save", "",
         "--appendonly", "yes", "--appendfsync", "always"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        wait_for(lambda: redis.Redis.from_url(url).ping(), "redis-server")
        yield url
    finally:
        proc.terminate()
        proc.wait()


@contextlib.contextmanager
def api_server(store_url: str, workers: int, log: str) -> Iterator[str]:
    """``python -m server serve`` on a free port; yields its base URL."""
    port = free_port()
    cmd = [sys.executable, "-m", "server", "serve", "--port", str(port), "--workers",
           str(workers), "--rules", RULES, "--store", store_url,
           "--no-access-log"]  # fmt: skip  # measured without request logs, as before
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=out)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: httpx.get(f"{url}/ready").status_code == 200, "the API server")
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


def seed(store_url: str, accounts: int, per_account: int) -> str:
    """Accounts with ``per_account`` blocked prefixes each; return an operator key."""
    store = open_store(store_url)
    try:
        for a in range(accounts):
            prefixes = tuple(f"4930{PREFIX_BASE + p:07d}" for p in range(per_account))
            npn = f"4930{2_000_000 + a}"
            held = Holding(id=npn, first=npn, last=npn, state="active", area_code="30")
            account = Account(id=f"bench-{a:04d}", npn=npn, holdings=(held,),
                              blocked_prefixes=prefixes)  # fmt: skip
            store.create_account(account, 0.0)
        key, _ = add_key(store, "operator", None)
        return key
    finally:
        store.close()


def ledger_size(store_url: str, accounts: int) -> int:
    """All charges of the bench accounts."""
    store = open_store(store_url)
    try:
        return sum(len(store.charges(f"bench-{a:04d}")) for a in range(accounts))
    finally:
        store.close()


def run_wrk(
    url: str,
    script: str,
    tmp: str,
    args: argparse.Namespace,
    connections: int,
    duration: int = 0,
) -> dict[str, int]:
    """Run wrk with a Lua script; return the numbers its done() printed."""
    path = os.path.join(tmp, f"bench-{time.monotonic_ns()}.lua")
    with open(path, "w") as fh:
        fh.write(script)
    threads = min(args.threads, connections)
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration or args.duration}s",
           "--timeout", "10s", "-s", path, url]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    for line in done.stdout.splitlines():
        if line.startswith("WRKJSON "):
            return dict(json.loads(line[len("WRKJSON ") :]))
    raise SystemExit(f"wrk printed no result:\n{done.stdout}\n{done.stderr}")


def row(backend: str, endpoint: str, r: dict[str, int], conns: int, note: str = "") -> Row:
    """A table row from wrk's numbers."""
    return Row(
        backend=backend,
        endpoint=endpoint,
        connections=conns,
        requests=r["requests"],
        rps=r["requests"] / (r["duration_us"] / 1e6),
        p50_ms=r["p50_us"] / 1000,
        p99_ms=r["p99_us"] / 1000,
        non_2xx=r["status"],
        socket_errors=r["connect"] + r["read"] + r["write"] + r["timeout"],
        note=note,
    )


def bench_backend(backend: str, store_url: str, tmp: str, args: argparse.Namespace) -> list[Row]:
    """Seed, serve, and drive both endpoints on one store."""
    # Enough distinct targets for every unblock of every run (~1,000/s at most here).
    accounts, per_account = (40, 100) if args.quick else (400, 200)
    key = seed(store_url, accounts, per_account)
    rows = []
    with api_server(store_url, args.workers, os.path.join(tmp, f"{backend}-server.log")) as url:
        numbers = ", ".join(f'"{n}"' for n in NUMBERS)
        decisions = DECISIONS_LUA % {"numbers": numbers, "key": key, "done": DONE_LUA}
        # Warm-up (compiled-account cache, connections), not measured.
        run_wrk(url, decisions, tmp, args, args.connections[0], duration=1)
        for conns in args.connections:
            r = run_wrk(url, decisions, tmp, args, conns)
            rows.append(row(backend, "GET /v1/decisions", r, conns))

        for i, conns in enumerate(args.connections):
            script = UNBLOCK_LUA % {
                "threads": args.threads,
                "accounts": accounts,
                "per_account": per_account,
                "base": PREFIX_BASE,
                "key": key,
                "run": f"run{os.getpid()}-{i}",
                # Each run lifts its own share of the targets (a lifted one would be 409).
                "offset": i * (accounts * per_account // len(args.connections)),
                "done": DONE_LUA,
            }
            before = ledger_size(store_url, accounts)
            r = run_wrk(url, script, tmp, args, conns)
            ok = r["requests"] - r["status"]
            charges = ledger_size(store_url, accounts) - before
            # wrk stops at its deadline with requests in flight: those may commit unanswered.
            durable = ok <= charges <= ok + conns
            note = f"ledger +{charges} for {ok} 2xx" + ("" if durable else " MISMATCH")
            rows.append(row(backend, "DELETE …/blocks (paid unblock)", r, conns, note))
    return rows


def versions() -> dict[str, str]:
    """The environment the numbers were taken in."""
    out = {"python": platform.python_version(), "cores": str(os.cpu_count())}
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as fh:
        out["cpu"] = next((ln.split(":", 1)[1].strip() for ln in fh if "model name" in ln), "?")
    for dist in ("litestar", "msgspec", "uvicorn", "uvloop", "httptools", "redis"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[dist] = importlib.metadata.version(dist)
    for tool, flag in (("wrk", "-v"), ("redis-server", "--version")):
        with contextlib.suppress(OSError):
            done = subprocess.run([tool, flag], capture_output=True, text=True, check=False)
            out[tool] = (done.stdout or done.stderr).splitlines()[0].strip()
    return out


def main() -> int:
    """Run the benchmark and print a table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--backends", default="sqlite,redis")
    parser.add_argument("--duration", type=int, default=0, help="seconds per run (10; quick 2)")
    parser.add_argument(
        "--connections", default="8,32", help="comma list: one run per count (quick: first)"
    )
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes")
    args = parser.parse_args()
    args.duration = args.duration or (2 if args.quick else 10)
    args.connections = [int(c) for c in args.connections.split(",")]
    if args.quick:
        args.connections = args.connections[:1]
    if shutil.which("wrk") is None:
        raise SystemExit("wrk not found (apt-get install -y wrk)")

    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="callpolicy-bench-") as tmp:
        for backend in args.backends.split(","):
            if backend == "sqlite":
                rows += bench_backend("sqlite", f"sqlite:///{tmp}/state.db", tmp, args)
            elif backend == "redis":
                with redis_server(tmp) as url:
                    rows += bench_backend("redis", url, tmp, args)
            else:
                raise SystemExit(f"unknown backend {backend!r} (sqlite, redis)")
    env = versions()
    if args.json:
        print(json.dumps({"env": env, "rows": [asdict(r) for r in rows]}, indent=2))
        return 0
    print(
        f"HTTP API benchmark: {args.workers} server workers, wrk -t{args.threads} "
        f"-d{args.duration}s per row, loopback; {env.get('cpu', '?')}, "
        f"{env['cores']} cores shared by server, store and wrk"
    )
    print()
    print(
        f"| {'store':<6} | {'endpoint':<30} | {'conns':>5} | {'req/s':>8} | {'p50 ms':>7} "
        f"| {'p99 ms':>7} | {'errors':>6} | {'note':<30} |"
    )
    print(f"|{'-' * 8}|{'-' * 32}|{'-' * 7}|{'-' * 10}|{'-' * 9}|{'-' * 9}|{'-' * 8}|{'-' * 32}|")
    for r in rows:
        print(
            f"| {r.backend:<6} | {r.endpoint:<30} | {r.connections:>5} | {r.rps:>8,.0f} "
            f"| {r.p50_ms:>7.2f} | {r.p99_ms:>7.2f} | {r.non_2xx + r.socket_errors:>6} "
            f"| {r.note:<30} |"
        )
    print()
    print("versions: " + ", ".join(f"{k} {v}" for k, v in env.items() if k != "cpu"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
