"""Fixtures of the store tests: a private redis-server and the backend-parametrized store."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from policy.state.store import RedisStore, SqliteStore, Store
from policy.state.store.redis import close_cluster_client
from tests._procs import free_port, stop
from tests._redis_cluster import RedisCluster

REDIS_SERVER = shutil.which("redis-server")
#: Seconds to wait for the private redis-server to answer PING.
REDIS_START_TIMEOUT = 10.0


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a redis-server started for this session (never the system one on 6379).

    Run as production runs it for the ledger: AOF with ``appendfsync always``.
    """
    if REDIS_SERVER is None:
        pytest.skip("redis-server binary not found on PATH (CI installs it)")
    workdir = tmp_path_factory.mktemp("redis")
    port = free_port()
    log = workdir / "redis.log"
    cmd = [
        REDIS_SERVER,
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "yes",
        "--appendfsync", "always",
        "--dir", str(workdir),
        "--logfile", str(log),
    ]  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    with subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT) as proc:
        try:
            _wait_for_ping(url, proc, log)
            yield url
        finally:
            stop(proc, 10)


def _wait_for_ping(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + REDIS_START_TIMEOUT
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"redis-server exited with {proc.returncode}:\n{_tail(log)}")
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"redis-server did not answer PING in time:\n{_tail(log)}")
            time.sleep(0.05)
    finally:
        client.close()


def _tail(log: Path) -> str:
    return log.read_text()[-2000:] if log.exists() else "(no log)"


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """The private server's URL, its database flushed for this test."""
    client = redis.Redis.from_url(redis_server)
    try:
        client.flushdb()
    finally:
        client.close()
    return redis_server


@dataclass
class Backend:
    """A store under test and a back door to write a raw account doc (schema evolution)."""

    name: str
    store: Store
    put_raw_doc: Callable[[str, bytes], None]
    reopen: Callable[[], Store]


def _sqlite_backend(path: Path) -> Backend:
    import sqlite3

    def put_raw_doc(account_id: str, doc: bytes) -> None:
        conn = sqlite3.connect(path)
        try:
            with conn:
                conn.execute("UPDATE accounts SET doc = ? WHERE id = ?", (doc, account_id))
        finally:
            conn.close()

    return Backend("sqlite", SqliteStore(str(path)), put_raw_doc, lambda: SqliteStore(str(path)))


def _redis_backend(url: str) -> Backend:
    def put_raw_doc(account_id: str, doc: bytes) -> None:
        client = redis.Redis.from_url(url)
        try:
            client.set(f"cp:{{{account_id}}}:doc", doc)
        finally:
            client.close()

    return Backend("redis", RedisStore(url), put_raw_doc, lambda: RedisStore(url))


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    """A real Redis Cluster (3 masters, 1 replica each) started for this session."""
    if REDIS_SERVER is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server/redis-cli not found on PATH (CI installs them)")
    cluster = RedisCluster(tmp_path_factory.mktemp("cluster")).start()
    try:
        yield cluster
    finally:
        cluster.stop()


def _cluster_backend(cluster: RedisCluster) -> Backend:
    client = redis.RedisCluster(host="127.0.0.1", port=cluster.live()[0].port)
    try:
        client.flushall(target_nodes=redis.RedisCluster.PRIMARIES)
    finally:
        close_cluster_client(client)

    def put_raw_doc(account_id: str, doc: bytes) -> None:
        c = redis.RedisCluster(host="127.0.0.1", port=cluster.live()[0].port)
        try:
            c.set(f"cp:{{{account_id}}}:doc", doc)
        finally:
            close_cluster_client(c)

    url = cluster.url
    return Backend("redis-cluster", RedisStore(url), put_raw_doc, lambda: RedisStore(url))


@pytest.fixture(params=["sqlite", "redis", "redis-cluster"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """Each backend in turn: a fresh SQLite file, the private Redis flushed, or the
    private Redis Cluster flushed."""
    if request.param == "sqlite":
        b = _sqlite_backend(tmp_path / "store.db")
    elif request.param == "redis":
        b = _redis_backend(request.getfixturevalue("redis_url"))
    else:
        b = _cluster_backend(request.getfixturevalue("redis_cluster"))
    try:
        yield b
    finally:
        b.store.close()


@pytest.fixture
def store(backend: Backend) -> Store:
    """The store under test (every contract test runs against both backends)."""
    return backend.store
