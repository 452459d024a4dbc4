"""Run ``python -m server`` as a real process on a free loopback port (tests, benchmarks)."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
from collections.abc import Sequence
from types import TracebackType

import httpx

from tests._procs import free_port, stop

from ._wait import wait_until

ROOT = pathlib.Path(__file__).resolve().parents[2]


def server_command(*args: str) -> list[str]:
    """``python -m server ARGS`` with this interpreter."""
    return [sys.executable, "-m", "server", *args]


def add_key(store_url: str, role: str, account: str | None = None) -> str:
    """Create a key through ``python -m server keys add``; return it."""
    cmd = server_command("keys", "add", "--role", role, "--store", store_url)
    if account:
        cmd += ["--account", account]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True)
    return done.stdout.strip()


class Server:
    """``python -m server serve`` in a child process; ``with`` waits for /ready, then stops."""

    def __init__(
        self, rules: str, store_url: str, extra: Sequence[str] = (), log: str = ""
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = ["--port", str(self.port), "--rules", rules, "--store", store_url, *extra]
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Server:
        """Start the process and wait until it is ready."""
        if self.log:
            with open(self.log, "ab") as out:  # the child keeps its own descriptor
                self.proc = self._spawn(out.fileno())
        else:
            self.proc = self._spawn(subprocess.DEVNULL)
        wait_until(self._ready, f"{self.url}/ready")
        return self

    def _spawn(self, out: int) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            server_command("serve", *self.args),
            cwd=ROOT,
            stdout=out,
            stderr=out,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"server exited with {self.proc.returncode} (log: {self.log})")
        try:
            return httpx.get(f"{self.url}/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown, no flush (the crash test)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> int:
        """SIGTERM and wait for a graceful exit; return the exit status.

        uvicorn re-raises the signal after its graceful shutdown, so that is -SIGTERM.
        """
        assert self.proc is not None
        return stop(self.proc, 60)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
