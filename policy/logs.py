"""One log format for the API and the SIP edge: one JSON object per line (or plain text).

Both processes call :func:`configure_logging` once at start (uvicorn gets the same
:func:`logging_config` for each of its workers), and log through the stdlib ``logging``
module as before. A JSON line holds ``ts`` (UTC, ISO 8601, milliseconds), ``level``,
``logger`` and ``msg``, then the fields of the current :func:`log_context` (the API's
``request_id``) and the record's ``extra=`` fields::

    {"ts":"2026-12-04T17:12:50.123Z","level":"info","logger":"callpolicy.server.access",
     "msg":"GET /v1/rules 200","request_id":"4f0c...","status":200,"duration_ms":1.9}

``text`` is the same event for a terminal: ``ts LEVEL logger msg key=value ...``.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime
import logging
import logging.config
from collections.abc import Iterator, Mapping
from typing import Any

import msgspec

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "JsonFormatter",
    "TextFormatter",
    "configure_logging",
    "log_context",
    "logging_config",
]

#: The values of ``--log-format``.
LOG_FORMATS = ("json", "text")
#: The values of ``--log-level``.
LOG_LEVELS = ("debug", "info", "warning", "error")

#: Attributes every LogRecord has: anything else on a record came from ``extra=``.
_RECORD_KEYS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName", "color_message"}  # color_message: uvicorn's twin
)

_context: contextvars.ContextVar[Mapping[str, object] | None] = contextvars.ContextVar(
    "callpolicy_log_context", default=None
)

_encoder = msgspec.json.Encoder(enc_hook=repr)


@contextlib.contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add ``fields`` to every event logged in this context (task or thread) until exit."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def _timestamp(created: float) -> str:
    when = datetime.datetime.fromtimestamp(created, tz=datetime.UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _fields(record: logging.LogRecord) -> dict[str, object]:
    """The context's fields, then the record's ``extra=`` fields."""
    fields = dict(_context.get() or {})
    for key, value in vars(record).items():
        if key not in _RECORD_KEYS and not key.startswith("_"):
            fields[key] = value
    return fields


class JsonFormatter(logging.Formatter):
    """One JSON object per event: ts, level, logger, msg, context and extra fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        """The event as one line of JSON (values msgspec cannot encode become their repr)."""
        event: dict[str, object] = {
            "ts": _timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in _fields(record).items():
            event.setdefault(key, value)  # an extra never overwrites the four keys above
        if record.exc_info:
            event["exc"] = self.formatException(record.exc_info)
        if record.stack_info:
            event["stack"] = self.formatStack(record.stack_info)
        try:
            return _encoder.encode(event).decode()
        except (TypeError, ValueError, OverflowError):  # e.g. a dict with non-str keys
            return _encoder.encode({k: _plain(v) for k, v in event.items()}).decode()


def _plain(value: object) -> object:
    return value if isinstance(value, str | int | float | bool | None) else repr(value)


class TextFormatter(logging.Formatter):
    """The same event for a terminal: ``ts LEVEL logger msg key=value ...``."""

    def format(self, record: logging.LogRecord) -> str:
        """One line (plus the traceback, if any)."""
        extra = " ".join(f"{k}={v}" for k, v in _fields(record).items())
        line = f"{_timestamp(record.created)} {record.levelname} {record.name} "
        line += record.getMessage() + (f" {extra}" if extra else "")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        if record.stack_info:
            line += "\n" + self.formatStack(record.stack_info)
        return line


def logging_config(fmt: str = "json", level: str = "info") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict: every logger to stderr in ``fmt``.

    uvicorn's loggers lose their own handlers and propagate to the root, so its lines
    come out in the same format; pass this as uvicorn's ``log_config`` (each worker
    process applies it). Raises ValueError for an unknown format or level.
    """
    if fmt not in LOG_FORMATS:
        raise ValueError(f"log format: expected one of {', '.join(LOG_FORMATS)}, got {fmt!r}")
    if level.lower() not in LOG_LEVELS:
        raise ValueError(f"log level: expected one of {', '.join(LOG_LEVELS)}, got {level!r}")
    formatter = JsonFormatter if fmt == "json" else TextFormatter
    upper = level.upper()
    inherit = {"handlers": [], "propagate": True, "level": upper}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"callpolicy": {"()": f"{__name__}.{formatter.__name__}"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "callpolicy",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": upper, "handlers": ["stderr"]},
        "loggers": {name: dict(inherit) for name in ("uvicorn", "uvicorn.error", "uvicorn.access")},
    }


def configure_logging(fmt: str = "json", level: str = "info") -> None:
    """Send every logger of this process to stderr in ``fmt`` (``json`` or ``text``)."""
    logging.config.dictConfig(logging_config(fmt, level))
