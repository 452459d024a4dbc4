"""Wait for something another thread or process does (bounded; no timing is asserted)."""

from __future__ import annotations

import time
from collections.abc import Callable

#: Generous: CI machines are slow and shared; a pass takes a fraction of this.
DEADLINE = 60.0


def wait_until(predicate: Callable[[], bool], what: str, deadline: float = DEADLINE) -> None:
    """Return once ``predicate()`` is true; fail naming ``what`` after ``deadline`` s."""
    end = time.monotonic() + deadline
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"gave up waiting for {what} after {deadline:g} s")
        time.sleep(0.02)
