"""Types of the C scanner (sip_edge/_wire.pyx)."""

from collections.abc import Iterable

def configure(compact: dict[str, str], split: Iterable[str], max_headers: int) -> None: ...
def scan(
    data: bytes, max_size: int
) -> tuple[str, str, int, str, list[list[str]], bytes] | None: ...
