"""The server's configuration: one Struct, validated on construction, named by key.

A mistake fails at boot with the key (and, from the environment, the variable) that is
wrong, never at the first request (Litestar ``on_registration``; OPA
``validateAndInjectDefaults``). Multi-worker serving passes the configuration to each
worker process through the environment (:meth:`ServerConfig.from_env`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import msgspec

__all__ = ["DEFAULT_STORE_URL", "ENV", "ConfigError", "ServerConfig"]

#: The embedded default (DESIGN.md, State): one SQLite file, no set-up.
DEFAULT_STORE_URL = "sqlite:///var/callpolicy.db"

#: Environment variable of each key (read by :meth:`ServerConfig.from_env`).
ENV: dict[str, str] = {
    "rules_dir": "CALLPOLICY_RULES",
    "store_url": "CALLPOLICY_STORE",
    "host": "CALLPOLICY_HOST",
    "port": "CALLPOLICY_PORT",
    "workers": "CALLPOLICY_WORKERS",
    "max_body_bytes": "CALLPOLICY_MAX_BODY_BYTES",
    "key_cache_seconds": "CALLPOLICY_KEY_CACHE_SECONDS",
    "access_log": "CALLPOLICY_ACCESS_LOG",
    "debug": "CALLPOLICY_DEBUG",
    "decision_log": "CALLPOLICY_DECISION_LOG",
    "decision_log_mask": "CALLPOLICY_DECISION_LOG_MASK",
    "node": "CALLPOLICY_NODE",
}

_STORE_SCHEMES = ("sqlite", "redis", "rediss", "unix", "redis-cluster")


class ConfigError(ValueError):
    """A configuration value is wrong; the message starts with the key."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"server config: {key}: {message}")


def _expected(key: str, found: object, expected: str) -> ConfigError:
    return ConfigError(key, f"expected {expected}, got {found!r}")


class ServerConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Everything the server needs to start; checked in ``__post_init__``."""

    rules_dir: str
    """Directory of the operator's rule files (``rules/``)."""
    store_url: str = DEFAULT_STORE_URL
    """``sqlite:///abs/path.db``, a plain path, ``redis://host:port/db`` or
    ``redis-cluster://host:port`` (any node of a Redis Cluster)."""
    host: str = "127.0.0.1"
    """Address ``serve`` binds to."""
    port: int = 8080
    """TCP port ``serve`` listens on."""
    workers: int = 1
    """Worker processes of ``serve`` (uvicorn's multi-process mode when more than 1)."""
    max_body_bytes: int = 1_000_000
    """Largest accepted request body; larger ones get 413."""
    key_cache_seconds: float = 30.0
    """How long a process reuses an API key's principal before reading it again (0: never)."""
    access_log: bool = True
    """Log one line per request with its request id (on by default, as ``serve`` runs;
    ``--no-access-log`` turns it off where throughput matters more)."""
    decision_log: str = ""
    """Path of the decision log (JSON lines, rotated by size); '' writes none."""
    decision_log_mask: int = 4
    """Trailing digits of dialled numbers hidden in the decision log."""
    node: str = ""
    """This node's name in decision ids and logs (default: host name and process id)."""
    debug: bool = False
    """Litestar debug mode (tracebacks in 500 answers): never in production."""

    def __post_init__(self) -> None:
        """Check every key; raise ConfigError naming the first wrong one."""
        if not os.path.isdir(self.rules_dir):
            raise _expected("rules_dir", self.rules_dir, "an existing directory of rule files")
        scheme, sep, _ = self.store_url.partition("://")
        if not self.store_url or (sep and scheme not in _STORE_SCHEMES):
            raise _expected(
                "store_url",
                self.store_url,
                "sqlite:///path.db, a path, redis://host:port/db or redis-cluster://host:port",
            )
        if not 0 <= self.port <= 65535:
            raise _expected("port", self.port, "a TCP port 0-65535")
        if not 1 <= self.workers <= 64:
            raise _expected("workers", self.workers, "1-64 worker processes")
        if not 0 <= self.key_cache_seconds <= 3600:
            raise _expected("key_cache_seconds", self.key_cache_seconds, "0-3600 seconds")
        if not 1024 <= self.max_body_bytes <= 100_000_000:
            raise _expected("max_body_bytes", self.max_body_bytes, "1024-100000000 bytes")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServerConfig:
        """The configuration from ``CALLPOLICY_*`` variables (see :data:`ENV`)."""
        env = os.environ if environ is None else environ
        raw: dict[str, object] = {}
        for key, var in ENV.items():
            if var in env:
                raw[key] = env[var]
        if "rules_dir" not in raw:
            raise ConfigError("rules_dir", f"set ${ENV['rules_dir']} to the rules directory")
        try:
            # strict=False: "8080" -> 8080, "true" -> True, as environment values are text.
            return msgspec.convert(raw, cls, strict=False)
        except msgspec.ValidationError as exc:
            # msgspec says "... - at `$.port`"; name the variable the operator has to fix.
            message = str(exc)
            for key, var in ENV.items():
                message = message.replace(f"`$.{key}`", f"${var} ({key})")
            raise ValueError(f"server config from the environment: {message}") from None
