"""``python -m server``: serve the API, or create API keys.

    python -m server serve [--host H] [--port P] [--workers N] [--rules DIR] [--store URL]
    python -m server keys add --role operator|admin|employee [--account ID] [--store URL]

Options fall back to the ``CALLPOLICY_*`` environment variables (``server.config.ENV``).
With ``--workers N`` > 1, uvicorn runs N processes, each building the app through
``server.app:app_from_env`` from those variables; the configuration and the rules are
checked here first, so a mistake stops the command before any worker starts.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Sequence

import uvicorn

from policy import StoreError, open_store

from .app import create_app, preflight
from .auth import add_key
from .config import DEFAULT_STORE_URL, ENV, ConfigError, ServerConfig

__all__ = ["main"]


def _env(key: str, default: str | None = None) -> str | None:
    return os.environ.get(ENV[key], default)


def cmd_serve(args: argparse.Namespace) -> int:
    """Run the API under uvicorn (uvloop and httptools where installed)."""
    config = ServerConfig(
        rules_dir=args.rules,
        store_url=args.store,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=args.access_log,
    )
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    common = {
        "host": config.host,
        "port": config.port,
        "loop": loop,
        "http": http,
        "access_log": config.access_log,
        "log_level": "info",
        "server_header": False,
    }
    if config.workers == 1:
        # Built before serving: a wrong store URL or broken rules fail now, naming the key.
        uvicorn.run(create_app(config), **common)  # type: ignore[arg-type]
        return 0
    revision = preflight(config)  # the same checks, once, before any worker starts
    sys.stderr.write(f"callpolicy: rules revision {revision[:12]}, {config.workers} workers\n")
    for key, var in ENV.items():  # each worker reads its config from the environment
        value = getattr(config, key)
        os.environ[var] = str(value).lower() if isinstance(value, bool) else str(value)
    uvicorn.run(
        "server.app:app_from_env",
        factory=True,
        workers=config.workers,
        **common,  # type: ignore[arg-type]
    )
    return 0


def cmd_keys_add(args: argparse.Namespace) -> int:
    """Create an API key, store its hash, print the key once."""
    store = open_store(args.store)
    try:
        key, principal = add_key(store, args.role, args.account)
    finally:
        store.close()
    bound = f" for account {principal.account}" if principal.account else ""
    sys.stderr.write(f"created {principal.role} key {principal.key_id}{bound}\n")
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
    s.add_argument("--access-log", action="store_true", help="log every request")
    s.set_defaults(func=cmd_serve)

    k = sub.add_parser("keys", help="manage API keys")
    ksub = k.add_subparsers(dest="keys_command", required=True)
    a = ksub.add_parser("add", help="create a key and print it once (only its hash is kept)")
    a.add_argument("--role", required=True, choices=("operator", "admin", "employee"))
    a.add_argument("--account", metavar="ID", help="the account (admin and employee keys)")
    a.add_argument("--store", default=store_default, metavar="URL")
    a.set_defaults(func=cmd_keys_add)
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
