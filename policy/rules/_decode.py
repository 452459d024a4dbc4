"""Decode TOML text into a msgspec Struct, collecting every located error.

msgspec stops at the first error of a ``convert``; rule files hold many independent
entries, so each entry of an array of tables (and each value of a table of tables) is
converted on its own and every failure is reported with its file, line, path, the value
found and what was expected.
"""

from __future__ import annotations

import re
import tomllib
import typing
from typing import Any, TypeVar

import msgspec

from policy.errors import RuleError
from policy.rules._locate import line_of, parse_path

__all__ = ["Source", "decode_toml", "located"]

T = TypeVar("T", bound=msgspec.Struct)

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `(?P<path>\$[^`]*)`)?$", re.S)
_TOML_LINE = re.compile(r"\(at line (\d+), column (\d+)\)")


class Source(msgspec.Struct, frozen=True):
    """One rule file as read: display path and text."""

    file: str
    """As shown in errors and rule refs: relative to the rules directory for rule files
    (``blocks.toml``, so API answers carry no server paths), as found for case files."""
    text: str


def located(source: Source, code: str, path: str, found: str, expected: str) -> RuleError:
    """Build a RuleError for ``path`` in ``source``, finding its line."""
    return RuleError(code, source.file, line_of(source.text, path), path, found, expected)


def _value_at(data: Any, path: str) -> tuple[bool, Any]:
    node = data
    for part in parse_path(path):
        if isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
            continue
        if isinstance(node, dict) and isinstance(part, str) and part in node:
            node = node[part]
            continue
        return False, None
    return True, node


def _field_names(tp: Any) -> list[str]:
    return [f.encode_name for f in msgspec.structs.fields(tp)]


def _schema_error(
    source: Source, data: Any, base: str, item_type: Any, err: msgspec.ValidationError
) -> RuleError:
    m = _AT.match(str(err))
    assert m is not None
    msg, rel = m.group("msg"), m.group("path") or "$"
    path = base + rel[1:]
    has, value = _value_at(data, path)
    shown = repr(value) if has else "nothing"
    if msg.startswith("Object missing required field"):
        name = msg.split("`")[1]
        return located(source, "rule_schema_error", path, "nothing", f"required field `{name}`")
    if msg.startswith("Object contains unknown field"):
        name = msg.split("`")[1]
        known = ", ".join(_field_names(item_type)) if rel == "$" else "a known field"
        return located(
            source, "rule_schema_error", f"{path}.{name}", f"unknown field `{name}`", known
        )
    if msg.startswith("Expected "):
        expected, _, got = msg[len("Expected ") :].partition(", got ")
        found = f"{got} {shown}" if got else shown
        return located(source, "rule_schema_error", path, found, expected)
    if msg.startswith("Invalid enum value"):
        if path == "$.schema":
            return located(source, "rule_schema_error", path, shown, "schema = 1")
        return located(source, "rule_schema_error", path, shown, "one of the allowed values")
    return located(source, "rule_schema_error", path, shown, msg)


def _entry_type(tp: Any) -> tuple[str, Any] | None:
    """For ``tuple[S, ...]`` or ``dict[str, S]`` of a Struct ``S``: ("list"|"dict", S)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        item = args[0]
        if isinstance(item, type) and issubclass(item, msgspec.Struct):
            return "list", item
    if origin is dict and len(args) == 2:
        item = args[1]
        if isinstance(item, type) and issubclass(item, msgspec.Struct):
            return "dict", item
    return None


def decode_toml(source: Source, tp: type[T], errors: list[RuleError]) -> T | None:
    """Decode ``source`` as ``tp``; append every error to ``errors``; None if any."""
    try:
        data = tomllib.loads(source.text)
    except tomllib.TOMLDecodeError as exc:
        m = _TOML_LINE.search(str(exc))
        line = int(m.group(1)) if m else 0
        msg = _TOML_LINE.sub("", str(exc)).strip()
        errors.append(
            RuleError("rule_parse_error", source.file, line, "", msg, "valid TOML (toml.io v1.0)")
        )
        return None
    n_before = len(errors)
    fields = {f.encode_name: f for f in msgspec.structs.fields(tp)}
    for key in data:
        if key not in fields:
            errors.append(
                located(
                    source,
                    "rule_schema_error",
                    f"$.{key}",
                    f"unknown key `{key}`",
                    "one of " + ", ".join(fields),
                )
            )
    values: dict[str, Any] = {}
    for name, field in fields.items():
        if name not in data:
            if field.default is msgspec.NODEFAULT and field.default_factory is msgspec.NODEFAULT:
                errors.append(
                    located(source, "rule_schema_error", "$", "nothing", f"required key `{name}`")
                )
            continue
        values[name] = _decode_field(source, data, name, field.type, errors)
    if len(errors) > n_before:
        return None
    return tp(**values)


def _decode_field(
    source: Source, data: dict[str, Any], name: str, tp: Any, errors: list[RuleError]
) -> Any:
    """Convert one top-level value; arrays and tables of Structs entry by entry."""
    value = data[name]
    entry = _entry_type(tp)
    if entry and entry[0] == "list" and isinstance(value, list):
        items = []
        for i, item in enumerate(value):
            try:
                items.append(msgspec.convert(item, entry[1]))
            except msgspec.ValidationError as exc:
                errors.append(_schema_error(source, data, f"$.{name}[{i}]", entry[1], exc))
        return tuple(items)
    if entry and entry[0] == "dict" and isinstance(value, dict):
        table = {}
        for key, item in value.items():
            try:
                table[key] = msgspec.convert(item, entry[1])
            except msgspec.ValidationError as exc:
                errors.append(_schema_error(source, data, f"$.{name}.{key}", entry[1], exc))
        return table
    try:
        return msgspec.convert(value, tp)
    except msgspec.ValidationError as exc:
        errors.append(_schema_error(source, data, f"$.{name}", None, exc))
        return None
