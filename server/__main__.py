"""``python -m server``: serve the API, or create API keys.

    python -m server serve [--host H] [--port P] [--workers N] [--rules DIR] [--store URL]
                           [--no-access-log] [--log-format json|text] [--log-level L]
    python -m server keys add --role operator|admin|employee [--account ID] [--store URL]
    python -m server keys list [--account ID] [--json] | revoke KEY_ID | rotate KEY_ID
    python -m server users add --login NAME --role operator|admin|employee [--account ID]
    python -m server users list [--account ID] [--json] | passwd | disable | enable --login NAME

Options fall back to the ``CALLPOLICY_*`` environment variables (``server.config.ENV``).
With ``--workers N`` > 1, uvicorn runs N processes, each building the app through
``server.app:app_from_env`` from those variables; the configuration and the rules are
checked here first, so a mistake stops the command before any worker starts.

Logs go to stderr, one JSON object per line by default (``policy.configure_logging``,
the same format as the SIP edge's), uvicorn's own lines included; ``--log-format text``
for a terminal. Each request is logged with its id (``server/access.py``) unless
``--no-access-log``; uvicorn's access log stays off (it would say the same again).
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

import msgspec
import uvicorn

from policy import (
    LOG_FORMATS,
    LOG_LEVELS,
    StoreError,
    configure_logging,
    logging_config,
    open_store,
)

from .app import create_app, preflight
from .auth import add_key, rotate_key
from .config import DEFAULT_STORE_URL, ENV, ConfigError, ServerConfig
from .schemas import iso8601
from .users_cli import add_user_commands

__all__ = ["main"]

log = logging.getLogger("callpolicy.server")


def _env(key: str, default: str | None = None) -> str | None:
    return os.environ.get(ENV[key], default)


def _log_env(what: str, default: str) -> str:
    """``$CALLPOLICY_LOG_FORMAT`` / ``$CALLPOLICY_LOG_LEVEL`` (shared with the SIP edge)."""
    return os.environ.get(f"CALLPOLICY_LOG_{what}", default).lower()


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the API under uvicorn (uvloop and httptools where installed)."""
    configure_logging(args.log_format, args.log_level)
    config = ServerConfig(
        rules_dir=args.rules,
        store_url=args.store,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=args.access_log,
        decision_log=args.decision_log,
        node=args.node,
    )
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    common: dict[str, Any] = {
        "host": config.host,
        "port": config.port,
        "loop": loop,
        "http": http,
        "access_log": False,  # the app logs each request itself, with its id (access.py)
        "log_config": logging_config(args.log_format, args.log_level),  # each worker too
        "log_level": args.log_level,
        "server_header": False,
    }
    if config.workers == 1:
        # Built before serving: a wrong store URL or broken rules fail now, naming the key.
        uvicorn.run(create_app(config), **common)
        return 0
    revision = preflight(config)  # the same checks, once, before any worker starts
    log.info("rules revision %s, %d workers", revision[:12], config.workers)
    for key, var in ENV.items():  # each worker reads its config from the environment
        value = getattr(config, key)
        os.environ[var] = str(value).lower() if isinstance(value, bool) else str(value)
    # Metrics of every worker in one scrape (prometheus_client's multiprocess mode): the
    # directory must exist, empty, before the workers start.
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="callpolicy-metrics-")
    uvicorn.run(
        "server.app:app_from_env",
        factory=True,
        workers=config.workers,
        **common,
    )
    return 0


def cmd_keys_add(args: argparse.Namespace) -> int:
    """Create an API key, store its hash, print the key once."""
    store = open_store(args.store)
    try:
        key, principal = add_key(store, args.role, args.account, time.time())
    finally:
        store.close()
    bound = f" for account {principal.account}" if principal.account else ""
    sys.stderr.write(f"created {principal.role} key {principal.key_id}{bound}\n")
    sys.stdout.write(key + "\n")
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    """Print every key (never the key itself): id, role, account, created, last use, revoked."""
    store = open_store(args.store)
    try:
        keys = store.list_api_keys(args.account)
    finally:
        store.close()
    if args.json:
        sys.stdout.write(msgspec.json.encode(keys).decode() + "\n")
        return 0
    for k in keys:
        used = iso8601(k.last_used_at) if k.last_used_at is not None else "never"
        state = f"revoked {iso8601(k.revoked_at)}" if k.revoked_at is not None else "live"
        sys.stdout.write(
            f"{k.key_id}\t{k.role}\t{k.account or '-'}\tcreated {iso8601(k.created_at)}"
            f"\tlast used {used}\t{state}\n"
        )
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    """Revoke a key by its id (it stops working within the servers' key cache time)."""
    store = open_store(args.store)
    try:
        info = store.revoke_api_key(args.key_id, time.time())
    finally:
        store.close()
    sys.stderr.write(f"revoked {info.key_id} ({info.role})\n")
    return 0


def cmd_keys_rotate(args: argparse.Namespace) -> int:
    """Replace a key by a new one of the same role and account; print the new key once."""
    store = open_store(args.store)
    try:
        key, principal = rotate_key(store, args.key_id, time.time())
    finally:
        store.close()
    sys.stderr.write(f"rotated {args.key_id} -> {principal.key_id}\n")
    sys.stdout.write(key + "\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    p = argparse.ArgumentParser(prog="python -m server", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    store_default = _env("store_url", DEFAULT_STORE_URL)

    s = sub.add_parser("serve", help="run the HTTP API")
    s.add_argument("--host", default=_env("host", "127.0.0.1"))
    s.add_argument("--port", type=int, default=int(_env("port", "8080") or 8080))
    s.add_argument("--workers", type=int, default=int(_env("workers", "1") or 1))
    s.add_argument("--rules", default=_env("rules_dir", "rules"), metavar="DIR")
    s.add_argument("--store", default=store_default, metavar="URL")
    access = (_env("access_log", "true") or "true").lower() not in ("0", "false", "no", "off")
    s.add_argument(
        "--access-log",
        action=argparse.BooleanOptionalAction,
        default=access,
        help="log every request with its id (default: on)",
    )
    s.add_argument(
        "--decision-log",
        default=_env("decision_log", ""),
        metavar="FILE",
        help="write one JSON line per decision (with several workers, FILE.<node> each)",
    )
    s.add_argument("--node", default=_env("node", ""), help="this node's name in decision ids")
    s.add_argument("--log-format", choices=LOG_FORMATS, default=_log_env("FORMAT", "json"))
    s.add_argument("--log-level", choices=LOG_LEVELS, default=_log_env("LEVEL", "info"))
    s.set_defaults(func=cmd_serve)

    k = sub.add_parser("keys", help="manage API keys")
    ksub = k.add_subparsers(dest="keys_command", required=True)
    a = ksub.add_parser("add", help="create a key and print it once (only its hash is kept)")
    a.add_argument("--role", required=True, choices=("operator", "admin", "employee"))
    a.add_argument("--account", metavar="ID", help="the account (admin and employee keys)")
    a.add_argument("--store", default=store_default, metavar="URL")
    a.set_defaults(func=cmd_keys_add)
    ls = ksub.add_parser("list", help="list keys: id, role, account, created, last use")
    ls.add_argument("--account", metavar="ID", help="only this account's keys")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.add_argument("--store", default=store_default, metavar="URL")
    ls.set_defaults(func=cmd_keys_list)
    for name, func, what in (
        ("revoke", cmd_keys_revoke, "revoke a key"),
        ("rotate", cmd_keys_rotate, "replace a key by a new one (printed once)"),
    ):
        r = ksub.add_parser(name, help=what)
        r.add_argument("key_id", help="the key's id (key_…, as `keys list` shows)")
        r.add_argument("--store", default=store_default, metavar="URL")
        r.set_defaults(func=func)
    add_user_commands(sub, store_default)  # web logins (clause 5.1): users_cli.py
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; exit 1 on a configuration or store error, 2 on usage errors."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except (ConfigError, StoreError, ValueError, OSError) as exc:
        sys.stderr.write(f"python -m server {args.command}: {exc}\n")
        return 1
    return code


if __name__ == "__main__":
    raise SystemExit(main())
