"""Accounts with active numbers for tests that are not about the number life cycle.

The life cycle itself (assign, port, activate ...) is tested in tests/policy/test_lifecycle.py
through ``policy.state.lifecycle``; other tests start from an account whose numbers are active.
"""

from __future__ import annotations

from typing import Any

import msgspec

from policy import Account, Holding
from policy.percall.numbers import geographic_area_code


def active(*ranges: str | tuple[str, str], at: float = 0.0) -> tuple[Holding, ...]:
    """Active holdings: canonical single numbers, or (first, last) blocks."""
    out = []
    for r in ranges:
        first, last = (r, r) if isinstance(r, str) else r
        hid = first if first == last else f"{first}-{last}"
        out.append(
            Holding(
                id=hid,
                first=first,
                last=last,
                state="active",
                area_code=geographic_area_code(first) or "",
                ordered_at=at,
                activated_at=at,
            )
        )
    return tuple(out)


def account_with(
    account_id: str,
    npn: str = "",
    numbers: tuple[str, ...] = (),
    blocks: tuple[tuple[str, str], ...] = (),
    **fields: Any,
) -> Account:
    """An account whose NPN, numbers and blocks are all active."""
    holdings = active(*(n for n in (npn, *numbers) if n), *blocks)
    return Account(id=account_id, npn=npn, holdings=holdings, **fields)


def ordered(number: str, at: float = 0.0) -> Holding:
    """A number on order (assigned, not yet active)."""
    (h,) = active(number, at=at)
    return msgspec.structs.replace(h, state="ordered", activated_at=None)
