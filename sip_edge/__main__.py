"""``python -m sip_edge``: run the SIP edge.

    python -m sip_edge --config config/edge.toml --rules rules \\
        --store sqlite:///var/callpolicy.db [--workers N]

The configuration, the rules and the store are checked before anything listens: a
mistake stops the command with the key that is wrong. With ``listen.workers`` (or
``--workers``) above 1, this process starts the other workers as child processes with
the same arguments; every worker binds the port with SO_REUSEPORT (transport.py), for
UDP and, with ``listen.tcp``, for TCP (stream.py).

Signals (``lifecycle.py``; the first process passes SIGHUP and SIGTERM on to the other
workers): SIGHUP reloads the rules and re-reads the accounts, SIGTERM drains (new calls
503, calls in set-up finish within ``shutdown.drain_timeout``) and exits 0. Logs: one
JSON object per line on stderr (``--log-format text`` for a terminal), the format of
the API's; every ``logging.stats_interval`` seconds a line with each worker's counters.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence

from policy import (
    LOG_FORMATS,
    LOG_LEVELS,
    Account,
    DecisionLog,
    DecisionRecorder,
    EngineError,
    PolicyRuntime,
    RuleErrors,
    Store,
    StoreError,
    configure_logging,
    open_store,
)

from .admin import Admin
from .config import ConfigError, EdgeConfig, load_config, parse_address
from .core.proxy import CoreSettings, EdgeCore
from .core.redirect import new_core
from .core.transaction import TimerConfig
from .follower import EdgeFollower
from .lifecycle import CounterLog, Reloader, Signals, drain, pass_on
from .stream import bind_tcp, close_streams, open_stream_server
from .transport import bind_udp, escalation_runner, open_endpoint, tune_gc

__all__ = ["core_settings", "main", "serve"]

log = logging.getLogger("callpolicy.sip_edge")


def core_settings(
    config: EdgeConfig, port: int, private_port: int | None, worker: int
) -> CoreSettings:
    """The core's settings for a worker bound to ``port`` (and ``private_port``)."""
    listen = config.listen
    if listen.advertise:
        host, adv_port = parse_address(listen.advertise, True)
        advertised = (host, adv_port or port)
    else:
        advertised = (listen.host, port)
    via = (advertised[0], private_port) if private_port else advertised
    t = config.timers
    return CoreSettings(
        via=via,
        record_route=advertised,
        psap=config.psap_address(),
        trunks=config.trunk_addresses(),
        max_message_bytes=config.limits.max_message_bytes,
        max_in_flight=config.limits.max_in_flight,
        max_transactions=config.limits.max_transactions,
        emergency_reserve=config.limits.emergency_reserve,
        timers=TimerConfig(t.t1, t.t2, t.t4, t.c),
        # The same on every worker: a request looping through another worker is caught.
        secret=hashlib.sha256(f"{advertised}".encode()).digest()[:16],
        instance=f"{worker:x}",
        mode="redirect" if config.mode == "redirect" else "proxy",
    )


async def serve(
    config: EdgeConfig,
    runtime: PolicyRuntime,
    store: Store,
    worker: int,
    children: Sequence[subprocess.Popen[bytes]] = (),
) -> None:
    """Run one worker until SIGTERM/SIGINT has drained it; pass signals on to ``children``."""
    loop = asyncio.get_running_loop()
    shared = config.listen.workers > 1
    sock = bind_udp(config.listen.host, config.listen.port, reuse_port=shared)
    port = sock.getsockname()[1]
    # TCP on the same port as UDP (RFC 3261 18: a server listens on both), bound before
    # anything starts so a taken port stops the worker at once.
    tcp_sock = bind_tcp(config.listen.host, port, reuse_port=shared) if config.listen.tcp else None
    private = bind_udp(config.listen.host, 0, reuse_port=False) if shared else None
    settings = core_settings(config, port, private.getsockname()[1] if private else None, worker)
    core = new_core(settings, runtime)  # a proxy, or a redirect server (mode)
    dl = config.decision_log
    path = f"{dl.path}.{worker}" if dl.path and config.listen.workers > 1 else dl.path
    log_file = DecisionLog(path, max_bytes=dl.max_bytes) if path else None
    core.decisions = DecisionRecorder(
        f"edge-{socket.gethostname()}.{os.getpid()}.{worker}", time.time(), log_file, dl.mask_digits
    )

    def apply(account_id: str, account: Account | None) -> None:
        def do() -> None:
            if account is None:
                core.drop_account(account_id)
            else:
                core.set_account(account)

        loop.call_soon_threadsafe(do)

    accounts = sorted(set(settings.trunks.values()))
    # The name in the store's node list and in decision ids: host, process, worker.
    node = f"edge-{socket.gethostname()}.{os.getpid()}.{worker}"
    follower = EdgeFollower(store, runtime, accounts, apply, time.time, node=node)
    follower.load()

    def reread_accounts() -> int:
        for account_id in accounts:
            apply(account_id, store.get_account(account_id))
        return len(accounts)

    tune_gc()
    proto, transports = await open_endpoint(
        core,
        sock,
        escalation_runner(loop, store),
        private,
        config.limits.shed_after,
        plane=config.data_plane == "c" and config.mode == "proxy",
        pause=config.data_plane_pause_ms / 1000,
    )
    tcp = None
    if tcp_sock is not None:
        listen = config.listen
        tcp = await open_stream_server(
            proto, tcp_sock, listen.max_tcp_connections, listen.tcp_idle_timeout
        )
    follower.start()
    reloader = Reloader(loop, runtime, reread_accounts, time.time, worker, follower.reloaded)
    admin = await _admin(config, core, runtime, follower, reloader, worker)
    counters = CounterLog(proto, worker, config.logging.stats_interval)
    # A TCP server stops accepting when draining; its live connections carry their calls.
    signals = Signals(loop, worker, reloader, children, tcp.close if tcp is not None else None)
    signals.install()
    counters.start()
    kinds = "udp+tcp" if tcp is not None else "udp"
    log.info("sip_edge worker %d listening on %s %s:%d", worker, kinds, config.listen.host, port)
    try:
        await signals.stopping.wait()
        timeout = config.shutdown.drain_timeout
        waiting = proto.in_flight()
        log.info("sip_edge worker %d: %d calls in set-up, up to %g s", worker, waiting, timeout)
        left = await drain(proto, timeout, signals.stop_now)
        if left:
            log.warning("sip_edge worker %d: stopping with %d calls in set-up", worker, left)
    finally:
        counters.stop()
        reloader.close()
        if admin is not None:
            admin.close()
        follower.stop()
        core.decisions.close()
        if tcp is not None:
            close_streams(tcp, proto)
        proto.close()
        for t in transports:
            t.close()
        counters.report("stopped")


async def _admin(
    config: EdgeConfig,
    core: EdgeCore,
    runtime: PolicyRuntime,
    follower: EdgeFollower,
    reloader: Reloader,
    worker: int,
) -> Admin | None:
    """The worker's admin listener (``[admin]``), or None when its port is 0."""
    if not config.admin.port:
        return None

    def gauges() -> dict[str, float]:
        return {
            "calls_in_setup": float(core.in_flight),
            "accounts": float(len(core.accounts)),
            "shedding": 1.0 if core.shedding else 0.0,
        }

    admin = Admin(lambda: core.stats, gauges, runtime, follower, worker, lambda: reloader.outcome)
    bound = await admin.start(config.admin.host, config.admin.port + worker)
    log.info("sip_edge worker %d: admin on http://%s:%d", worker, config.admin.host, bound)
    return admin


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sip_edge", description=__doc__.splitlines()[0])
    p.add_argument("--config", default="config/edge.toml", help="edge configuration (TOML)")
    p.add_argument("--rules", default="rules", help="rules directory")
    p.add_argument("--store", default="sqlite:///var/callpolicy.db", help="store URL")
    p.add_argument("--workers", type=int, default=0, help="override listen.workers")
    p.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
    env = os.environ.get
    p.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default=env("CALLPOLICY_LOG_FORMAT", "json").lower(),
        help="json (default) or text; also $CALLPOLICY_LOG_FORMAT",
    )
    p.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default=env("CALLPOLICY_LOG_LEVEL", "info").lower(),
        help="default info; also $CALLPOLICY_LOG_LEVEL",
    )
    return p


def _run(coro_factory: object) -> None:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency of uvicorn[standard]
        asyncio.run(coro_factory)  # type: ignore[arg-type]
    else:
        uvloop.run(coro_factory)  # type: ignore[arg-type]


def _hup_while_starting(signum: int, frame: object) -> None:
    log.warning("sip_edge: SIGHUP while starting: ignored (the rules are being loaded now)")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parser().parse_args(argv)
    # Until serve() installs its handlers, a SIGHUP must not end a starting edge.
    signal.signal(signal.SIGHUP, _hup_while_starting)
    try:
        configure_logging(args.log_format, args.log_level)  # $CALLPOLICY_LOG_* may be wrong
        config = load_config(args.config)
        if args.workers:
            import msgspec

            listen = msgspec.structs.replace(config.listen, workers=args.workers)
            config = msgspec.structs.replace(config, listen=listen)
        runtime = PolicyRuntime(args.rules, time.time())
        store = open_store(args.store)
    except (ConfigError, RuleErrors, EngineError, StoreError, ValueError) as exc:
        print(f"sip_edge: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    children: list[subprocess.Popen[bytes]] = []
    if args.worker == 0 and config.listen.workers > 1:
        if config.listen.port == 0:
            print("sip_edge: listen.port: expected a fixed port with workers > 1", file=sys.stderr)  # noqa: T201
            return 2
        base = [sys.executable, "-m", "sip_edge", "--config", args.config, "--rules", args.rules]
        base += ["--store", args.store, "--workers", str(config.listen.workers)]
        base += ["--log-format", args.log_format, "--log-level", args.log_level]
        children = [
            subprocess.Popen([*base, "--worker", str(i)]) for i in range(1, config.listen.workers)
        ]
    try:
        _run(serve(config, runtime, store, args.worker, children))
    finally:
        # Draining already if SIGTERM came (a second one does not cut the drain short).
        pass_on(children, signal.SIGTERM)
        for child in children:
            try:
                child.wait(config.shutdown.drain_timeout + 10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
