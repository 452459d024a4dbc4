"""Map a msgspec error path (``$.block[3].prefixes[1]``) back to a line of TOML text.

msgspec reports where in the decoded document a value is wrong, but TOML decoding keeps no
line numbers. The rule files use a small subset of TOML (top-level keys, ``[table]`` and
``[[array-of-tables]]`` headers, one key per line, arrays possibly spanning lines), so a
scan of the text for the header and key is enough. When a part of the path cannot be found
the line of the nearest enclosing part is returned, never a wrong later one.
"""

from __future__ import annotations

import re

__all__ = ["line_of", "parse_path"]

_TOKEN = re.compile(r"\.([A-Za-z0-9_-]+)|\[(\d+)\]")
_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.-]+)\s*\]\]?\s*(#.*)?$")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'')


def parse_path(path: str) -> list[str | int]:
    """Split ``$.a[2].b`` into ``["a", 2, "b"]``."""
    body = path[1:] if path.startswith("$") else path
    return [key if key else int(idx) for key, idx in _TOKEN.findall(body)]


def _key_line(lines: list[str], start: int, end: int, key: str) -> int | None:
    pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
    for i in range(start, end):
        if pattern.match(lines[i]):
            return i
    return None


def _nth_item(lines: list[str], start: int, n: int) -> int:
    """Line of the n-th element of the array that begins on line ``start``.

    Every element counts, not only strings (``[110, "112"]``: a wrong-typed value is what
    msgspec reports), and a nested array or inline table is one element.
    """
    seen = 0
    depth = 0
    expect = False  # the next value at depth 1 starts an element
    for i in range(start, len(lines)):
        text = lines[i].split("=", 1)[1] if i == start and "=" in lines[i] else lines[i]
        text = _STRING.sub(lambda m: "\0", text)
        for ch in text:
            if ch == "#":
                break
            if ch in " \t":
                continue
            if depth == 1 and expect and ch not in ",]}":
                if seen == n:
                    return i
                seen += 1
                expect = False
            if ch in "[{":
                depth += 1
                expect = depth == 1
            elif ch in "]}":
                depth -= 1
                if depth <= 0:
                    return start
            elif ch == "," and depth == 1:
                expect = True
    return start


def _table(
    headers: list[tuple[int, str, str]], parts: list[str | int], n_lines: int
) -> tuple[int, int, int] | None:
    """Find the header the path starts in: (header line, end line, parts consumed)."""
    for k in range(len(parts), 0, -1):
        names = parts[:k]
        if not all(isinstance(p, str) for p in names):
            continue
        name = ".".join(str(p) for p in names)
        index = parts[k] if k < len(parts) and isinstance(parts[k], int) else None
        kind = "[[" if index is not None else "["
        found = [i for i, h_kind, h_name in headers if h_kind == kind and h_name == name]
        if index is not None and isinstance(index, int) and index < len(found):
            start, used = found[index], k + 1
        elif index is None and found:
            start, used = found[0], k
        else:
            continue
        later = [i for i, _, _ in headers if i > start]
        return start, (later[0] if later else n_lines), used
    return None


def line_of(text: str, path: str) -> int:
    """Return the 1-based line for ``path`` in ``text`` (1 when nothing better is known)."""
    lines = text.splitlines()
    parts = parse_path(path)
    headers = [
        (i, m.group(1), m.group(2)) for i, line in enumerate(lines) if (m := _HEADER.match(line))
    ]
    table = _table(headers, parts, len(lines))
    if table is None:
        # A top-level key: it lives before the first header.
        start, end, used = 0, (headers[0][0] if headers else len(lines)), 0
        best = 0
    else:
        start, end, used = table
        best = start
    rest = parts[used:]
    if rest and isinstance(rest[0], str):
        found = _key_line(lines, start, end, rest[0])
        if found is not None:
            best = found
            if len(rest) >= 2 and isinstance(rest[1], int):
                best = _nth_item(lines, found, rest[1])
    return best + 1
