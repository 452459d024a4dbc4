"""What the tests and benchmarks that start real processes share: ports and shutdown."""

from __future__ import annotations

import random
import socket
import subprocess
from pathlib import Path

__all__ = ["below_ephemeral", "free_port", "stop"]


def below_ephemeral() -> int:
    """The first port the kernel hands out to sockets bound to port 0 and to outgoing
    connections (ip_local_port_range): a port chosen below it cannot be taken by one of
    those between the check here and the bind of the process it is meant for."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


_RNG = random.Random()


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now on ``host`` for UDP and for TCP (a SIP server and sipp
    -t t1 listen on both; an HTTP server or redis-server needs only TCP), below the
    ephemeral range: an edge's private port, sipp's sockets or any connection bound to
    port 0 meanwhile cannot take it (make test once failed on exactly that, a sipp UAS
    finding its port in use)."""
    top = max(below_ephemeral(), 12_000)
    while True:
        port = _RNG.randrange(10_000, top)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                try:
                    t.bind((host, port))
                except OSError:
                    continue
                return port


def stop(proc: subprocess.Popen[bytes], timeout: float) -> int:
    """SIGTERM, wait up to ``timeout`` s for a graceful exit, else SIGKILL; the status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
