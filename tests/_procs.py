"""What the tests and benchmarks that start real processes share: ports and shutdown."""

from __future__ import annotations

import socket
import subprocess

__all__ = ["free_port", "stop"]


def free_port(host: str = "127.0.0.1") -> int:
    """A port free right now on ``host`` for UDP and for TCP (a SIP server and sipp
    -t t1 listen on both; an HTTP server or redis-server needs only TCP)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((host, 0))
            port = int(s.getsockname()[1])
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
