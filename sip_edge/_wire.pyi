"""Types of the C scanner (sip_edge/_wire.pyx)."""

from collections.abc import Iterable

def configure(compact: dict[str, str], split: Iterable[str], max_headers: int) -> None: ...
def scan(
    data: bytes, max_size: int
) -> tuple[str, str, int, str, list[list[str]], bytes, dict[str, list[str]]] | None: ...
def scan_via(value: str) -> tuple[str, str, int | None, dict[str, str]] | None: ...
def scan_head(
    data: bytes, max_size: int
) -> tuple[str, str, list[list[str]], list[str], str | None, str | None, str | None] | None: ...

Span = tuple[int, int, str]
"""(start of the line, end past its CRLF, value)."""

def scan_relay(
    data: bytes, max_size: int
) -> (
    tuple[int, str, str, int, str, str, str, Span | None, Span | None, list[Span], list[Span]]
    | None
): ...
