"""An edge cut off from Redis keeps serving, says it is degraded, and catches up (issue 12).

The edge reaches redis-server through a TCP relay the test can cut: a block written to the
store while the edge is cut off is enforced once the relay is back, with nothing missed
(the follower reads on from its feed position).
"""

from __future__ import annotations

import asyncio
import pathlib
import threading
import time
from collections.abc import Iterator

import httpx
import msgspec
import pytest

from policy import Account
from policy.state.store import RedisStore
from tests._procs import free_port, stop
from tests.cluster.test_many_nodes import _edge, _status
from tests.sip.conftest import acme

#: Seconds for the edge to notice a change (a bound, not a figure).
REACH_TIMEOUT = 15.0


class Relay:
    """A TCP relay 127.0.0.1:port -> target that can be cut (every connection closed and
    new ones refused) and restored, on an event loop of its own."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target = target_port
        self.loop = asyncio.new_event_loop()
        self.cut = False
        self._conns: set[asyncio.StreamWriter] = set()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self.loop).result(5)

    async def _listen(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def _client(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        if self.cut:
            w.close()
            return
        ur, uw = await asyncio.open_connection("127.0.0.1", self.target)
        self._conns.update((w, uw))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(r, uw), pipe(ur, w))

    def set_cut(self, cut: bool) -> None:
        def do() -> None:
            self.cut = cut
            if cut:
                for w in list(self._conns):
                    w.transport.abort()
                self._conns.clear()

        self.loop.call_soon_threadsafe(do)

    def close(self) -> None:
        """Close every connection, the listening socket and the loop (nothing left for the
        garbage collector to warn about in a later test)."""

        async def shutdown() -> None:
            self.cut = True
            for w in list(self._conns):
                w.transport.abort()
            self._conns.clear()
            self.server.close()
            await self.server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5)
        self.loop.close()


@pytest.fixture
def relay(redis_server: str) -> Iterator[tuple[Relay, str]]:
    port = int(redis_server.rsplit(":", 1)[1].split("/")[0])
    r = Relay(port)
    try:
        yield r, redis_server
    finally:
        r.close()


def _health(admin: int) -> str:
    return str(httpx.get(f"http://127.0.0.1:{admin}/health", timeout=5).json()["status"])


def _until(check: object, what: str) -> None:
    deadline = time.monotonic() + REACH_TIMEOUT
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_cut_off_edge_serves_reports_degraded_and_catches_up(
    relay: tuple[Relay, str], tmp_path: pathlib.Path
) -> None:
    r, direct = relay
    store = RedisStore(direct)
    try:
        store.create_account(acme(), time.time())
        admin = free_port()
        url = f"redis://127.0.0.1:{r.port}/0?socket_timeout=5&socket_connect_timeout=1"
        proc, port = _edge(tmp_path / "edge", url, f"[admin]\nport = {admin}\n")
        try:
            assert _status(port, "+4930555123") == 100
            assert _health(admin) == "ok"
            r.set_cut(True)
            _until(lambda: _health(admin) == "degraded", "the edge to report degraded")
            # Cut off, it still decides calls on the accounts and rules it holds.
            assert _status(port, "+4930666123") == 100
            assert _status(port, "+499001123456") == 0  # refused by the rules it holds

            def block(a: Account) -> Account:
                return msgspec.structs.replace(a, blocked_prefixes=("4930555",))

            store.update_account("acme", block, time.time())
            assert _status(port, "+4930555123") == 100  # not yet: it cannot read the feed
            r.set_cut(False)
            _until(lambda: _status(port, "+4930555123") == 403, "the block after reconnect")
            _until(lambda: _health(admin) == "ok", "the edge to report ok again")
        finally:
            stop(proc, 10)
    finally:
        store.close()
