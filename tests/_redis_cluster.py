"""A real Redis Cluster on loopback for tests, benchmarks and ``scripts/cluster.sh``.

``RedisCluster(masters=3, replicas=1).start()`` runs ``masters * (1 + replicas)``
redis-server processes with ``--cluster-enabled yes`` on free ports, joins them with
``redis-cli --cluster create`` and waits until every node reports ``cluster_state:ok``.
The ledger's durability is production's: AOF with ``appendfsync always``.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from policy.state.store.redis import close_cluster_client
from tests._procs import below_ephemeral, stop

__all__ = ["ClusterError", "RedisCluster"]

#: Seconds a node may be unreachable before the cluster fails it over (tests kill masters).
NODE_TIMEOUT_MS = 1500


def _cluster_port(taken: set[int]) -> int:
    """A free TCP port whose cluster-bus port (port + 10000) is free too, both below the
    ephemeral range."""
    import random
    import socket

    rng = random.Random()
    top = max(below_ephemeral() - 10_000, 12_000)
    while True:
        port = rng.randrange(10_000, top)
        if port in taken or port + 10_000 in taken:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 10_000))
        except OSError:
            continue
        return port


def _ping(port: int) -> bool:
    with redis.Redis(port=port) as client:
        return bool(client.ping())


class ClusterError(RuntimeError):
    """The cluster could not be started (with the end of the logs)."""


@dataclass
class Node:
    port: int
    proc: subprocess.Popen[bytes]
    dir: Path
    cmd: list[str] = field(default_factory=list)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@dataclass
class RedisCluster:
    """Masters and their replicas on 127.0.0.1, in ``workdir``."""

    workdir: Path
    masters: int = 3
    replicas: int = 1
    nodes: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        """A ``redis-cluster://`` URL naming one node (the client discovers the others)."""
        return f"redis-cluster://{self.nodes[0].address}/0"

    def start(self, timeout: float = 30.0) -> RedisCluster:
        server, cli = shutil.which("redis-server"), shutil.which("redis-cli")
        if server is None or cli is None:
            raise ClusterError("redis-server and redis-cli are needed (Debian: redis-server)")
        for _ in range(self.masters * (1 + self.replicas)):
            self.nodes.append(self._spawn(server))
        for i, node in enumerate(self.nodes):
            for _ in range(5):  # its port taken after the check: start it on another
                if not self._lost_port(node):
                    break
                node = self.nodes[i] = self._spawn(server)
            self._wait(lambda n=node: _ping(n.port), timeout, node)
        create = [cli, "--cluster", "create", *(n.address for n in self.nodes),
                  "--cluster-replicas", str(self.replicas), "--cluster-yes"]  # fmt: skip
        done = subprocess.run(create, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            self.stop()
            raise ClusterError(f"redis-cli --cluster create failed:\n{done.stdout[-2000:]}")
        for node in self.nodes:
            self._wait(lambda n=node: self._ok(n.port), timeout, node)
        return self

    def _spawn(self, server: str) -> Node:
        port = _cluster_port({n.port for n in self.nodes})
        d = self.workdir / str(port)
        d.mkdir(parents=True)
        cmd = [
            server, "--port", str(port), "--bind", "127.0.0.1",
            "--cluster-enabled", "yes", "--cluster-config-file", str(d / "nodes.conf"),
            "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
            "--save", "", "--appendonly", "yes", "--appendfsync", "always",
            "--dir", str(d), "--logfile", str(d / "redis.log"),
        ]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        return Node(port, proc, d, cmd)

    @staticmethod
    def _lost_port(node: Node, timeout: float = 5.0) -> bool:
        """Whether the node exited because its port or bus port was taken."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.proc.poll() is not None:
                log = node.dir / "redis.log"
                return log.exists() and "Address already in use" in log.read_text()
            try:
                if _ping(node.port):
                    return False
            except redis.RedisError:
                pass
            time.sleep(0.05)
        return False

    @staticmethod
    def _ok(port: int) -> bool:
        with redis.Redis(port=port) as client:  # closed: no socket left for the GC to warn of
            info = client.cluster("info")
        return isinstance(info, dict) and info.get("cluster_state") == "ok"

    def _wait(self, ready: object, timeout: float, node: Node) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.proc.poll() is not None:
                break
            try:
                if ready():  # type: ignore[operator]
                    return
            except redis.RedisError:
                pass
            time.sleep(0.05)
        log = node.dir / "redis.log"
        tail = log.read_text()[-2000:] if log.exists() else "(no log)"
        self.stop()
        raise ClusterError(f"node {node.address} not ready:\n{tail}")

    def master_of(self, key: str) -> Node:
        """The node serving ``key``'s slot now."""
        client = redis.RedisCluster(host="127.0.0.1", port=self.live()[0].port)
        try:
            port = client.get_node_from_key(key).port
        finally:
            close_cluster_client(client)
        return next(n for n in self.nodes if n.port == port)

    def live(self) -> list[Node]:
        return [n for n in self.nodes if n.proc.poll() is None]

    def kill(self, node: Node) -> None:
        """SIGKILL one node (a crash, not a shutdown)."""
        node.proc.kill()
        node.proc.wait()

    def restart(self, node: Node, timeout: float = 30.0) -> None:
        """Start a killed node again on its port and files: it rejoins the cluster (a
        master that was failed over comes back as its successor's replica)."""
        node.proc = subprocess.Popen(node.cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self._wait(lambda: _ping(node.port), timeout, node)

    def replicas_of(self, master: Node) -> list[Node]:
        """The live nodes replicating ``master`` now (``role:slave`` pointing at it)."""
        out = []
        for node in self.live():
            with redis.Redis(port=node.port) as client:
                info = client.info("replication")
            if info.get("role") == "slave" and int(info.get("master_port", 0)) == master.port:
                out.append(node)
        return out

    def wait_promoted(self, node: Node, timeout: float = 30.0) -> None:
        """Until ``node`` (a replica of a killed master) is a master and the cluster is ok."""

        def promoted() -> bool:
            with redis.Redis(port=node.port) as client:
                role = client.info("replication").get("role")
            return role == "master" and self._ok(node.port)

        self._wait(promoted, timeout, node)
        self.wait_ok(timeout)

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every live node reports ``cluster_state:ok`` again (after a failover)."""
        for node in self.live():
            self._wait(lambda n=node: self._ok(n.port), timeout, node)

    def stop(self) -> None:
        for node in self.nodes:
            stop(node.proc, 10)
