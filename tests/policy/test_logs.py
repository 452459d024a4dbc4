"""policy/logs.py: one event per line, JSON or text, with context and extra fields."""

from __future__ import annotations

import json
import logging
import re
import sys
import threading

import pytest

from policy import configure_logging, log_context, logging_config
from policy.logs import JsonFormatter, TextFormatter


def record(msg: str = "hello %s", *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("callpolicy.test", logging.WARNING, __file__, 1, msg, args, None)
    rec.__dict__.update(extra)
    rec.created = 1_796_405_068.3747  # 2026-12-04T17:24:28.374Z
    return rec


def test_json_event_has_the_four_keys_then_extras() -> None:
    line = JsonFormatter().format(record("hello %s", "you", status=200, counters={"a": 1}))
    assert "\n" not in line
    assert json.loads(line) == {
        "ts": "2026-12-04T17:24:28.374Z",
        "level": "warning",
        "logger": "callpolicy.test",
        "msg": "hello you",
        "status": 200,
        "counters": {"a": 1},
    }


def test_an_extra_never_overwrites_the_four_keys() -> None:
    event = json.loads(JsonFormatter().format(record("m", level="fake", logger="fake")))
    assert (event["level"], event["logger"]) == ("warning", "callpolicy.test")


def test_values_json_cannot_hold_are_converted() -> None:
    event = json.loads(JsonFormatter().format(record("m", thing=object(), odd={1: 2})))
    assert event["thing"].startswith("<object object at")
    assert event["odd"] == {"1": 2}  # msgspec writes int keys as strings


def test_context_fields_are_added_in_their_context_only() -> None:
    fmt = JsonFormatter()
    with log_context(request_id="r-1"):
        with log_context(account="acme"):
            inner = json.loads(fmt.format(record("m")))
        outer = json.loads(fmt.format(record("m")))
    after = json.loads(fmt.format(record("m")))
    assert (inner["request_id"], inner["account"]) == ("r-1", "acme")
    assert "account" not in outer and outer["request_id"] == "r-1"
    assert "request_id" not in after


def test_context_does_not_leak_into_other_threads() -> None:
    seen: list[str] = []
    with log_context(request_id="mine"):
        t = threading.Thread(target=lambda: seen.append(JsonFormatter().format(record("m"))))
        t.start()
        t.join()
    assert "request_id" not in json.loads(seen[0])


def test_exceptions_are_one_field() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        rec = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    line = JsonFormatter().format(rec)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exc"]


def test_text_event() -> None:
    line = TextFormatter().format(record("hello %s", "you", status=200))
    assert line == "2026-12-04T17:24:28.374Z WARNING callpolicy.test hello you status=200"


@pytest.mark.parametrize(
    ("fmt", "level", "message"),
    [
        ("xml", "info", "log format: expected one of json, text, got 'xml'"),
        ("json", "loud", "log level: expected one of debug, info, warning, error, got 'loud'"),
    ],
)
def test_unknown_format_or_level(fmt: str, level: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        logging_config(fmt, level)


def test_configure_logging_sends_everything_to_stderr_as_json(
    capsys: pytest.CaptureFixture[str],
) -> None:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        configure_logging("json", "info")
        logging.getLogger("uvicorn.error").info("from uvicorn")
        logging.getLogger("callpolicy.x").debug("not at info")
        logging.getLogger("callpolicy.x").info("from us", extra={"k": 1})
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    lines = [json.loads(x) for x in capsys.readouterr().err.splitlines()]
    assert [(e["logger"], e["msg"]) for e in lines] == [
        ("uvicorn.error", "from uvicorn"),
        ("callpolicy.x", "from us"),
    ]
    assert lines[1]["k"] == 1
