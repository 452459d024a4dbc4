"""sip_edge/core/limits.py: power-dialer counters on a virtual clock (clause 7.2)."""

from __future__ import annotations

from sip_edge.core.limits import Limits


def test_rate_is_a_sliding_one_second_window() -> None:
    lim = Limits(rate=3, concurrent=100, window_seconds=60)
    t = 10.0
    assert [lim.admit("a", "none", t + i * 0.1) for i in range(4)] == [None, None, None, "rate"]
    assert lim.admit("a", "none", t + 0.99) == "rate"
    assert lim.admit("a", "none", t + 1.0) is None  # the first attempt left the window
    assert lim.admit("b", "none", t + 0.5) is None  # per account


def test_concurrent_setups() -> None:
    lim = Limits(rate=100, concurrent=2, window_seconds=60)
    for _ in range(2):
        assert lim.admit("a", "none", 0.0) is None
        lim.started("a")
    assert lim.admit("a", "none", 0.0) == "concurrent"
    lim.ended("a")
    assert lim.admit("a", "none", 0.0) is None


def test_throttle_halves() -> None:
    lim = Limits(rate=4, concurrent=100, window_seconds=60)
    got = [lim.admit("a", "throttle", 0.0) for _ in range(3)]
    assert got == [None, None, "rate"]


def test_window_totals_of_accounts_over_a_limit_then_reset() -> None:
    lim = Limits(rate=1, concurrent=100, window_seconds=60)
    lim.admit("a", "none", 0.0)
    lim.admit("a", "none", 0.1)
    lim.admit("b", "none", 0.1)
    assert lim.window_end == 60.0
    assert lim.close_window(59.9) == []
    (total,) = lim.close_window(60.0)
    assert (total.account, total.attempts, total.rejected) == ("a", 2, 1)
    assert lim.window_end is None
    assert lim.close_window(200.0) == []


def test_table_is_bounded() -> None:
    lim = Limits(rate=1, concurrent=1, window_seconds=60, max_accounts=10)
    for i in range(1000):
        lim.admit(f"acct{i}", "none", 0.0)
    assert len(lim._accounts) == 10
