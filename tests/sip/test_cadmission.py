"""The C site-admission table (sip_edge/fast/admission.c, ``CAdmission``) against
``sip_edge.core.admission.SiteAdmission``, its reference: the same operations in the same
order must give the same answers, holds, bandwidth per site and counters."""

from __future__ import annotations

from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sip_edge.core.admission import Hold, SiteAdmission
from sip_edge.fast._plane import CAdmission, CLimits

_SITES = ["acme", "beta", "größe"]
_CALLS = ["c1", "c2", "c3", "é@x"]
_TAGS = ["t1", "t2", ""]

_op = st.one_of(
    st.tuples(
        st.just("take"),
        st.sampled_from(_SITES),
        st.sampled_from([None, 0, 64_000, 100_000, 200_000]),
        st.sampled_from([0, 32_000, 64_000, 100_000]),
        st.sampled_from(_CALLS),
        st.sampled_from(_TAGS),
        st.floats(0, 5),
        st.booleans(),
    ),
    st.tuples(st.just("release"), st.integers(0, 20)),
    st.tuples(
        st.just("ended"),
        st.sampled_from(_CALLS),
        st.lists(st.sampled_from(_TAGS), min_size=1, max_size=2),
    ),
    st.tuples(st.just("expire"), st.floats(0, 5)),
)


def _same(ref: Hold | None, got: Hold | None) -> None:
    if ref is None or got is None:
        assert ref is got
        return
    assert (got.key, got.site, got.bps, got.until) == (ref.key, ref.site, ref.bps, ref.until)


@settings(max_examples=400, deadline=None)
@given(ops=st.lists(_op, max_size=40), max_calls=st.integers(1, 4))
def test_c_admission_holds_as_the_reference(ops: list[tuple[Any, ...]], max_calls: int) -> None:
    ref_stats: Counter[str] = Counter()
    c_stats: Counter[str] = Counter()
    ref = SiteAdmission(ref_stats, max_calls)
    table = CAdmission(CLimits(10, 10, 1.0), c_stats, max_calls)
    taken: list[tuple[Hold, Hold]] = []
    now = 0.0
    for op in ops:
        if op[0] == "take":
            _, site, capacity, bps, call, tag, length, force = op
            r = ref.take(site, capacity, bps, (call, tag), now, now + length, force)
            g = table.take(site, capacity, bps, (call, tag), now, now + length, force)
            _same(r, g)
            if r is not None and g is not None:
                taken.append((r, g))
        elif op[0] == "release" and taken:
            r, g = taken[op[1] % len(taken)]  # again and again: stale holds too
            assert table.release(g) == ref.release(r)
        elif op[0] == "ended":
            _same(ref.ended(op[1], tuple(op[2])), table.ended(op[1], tuple(op[2])))
        elif op[0] == "expire":
            now += op[1]
            ref.expire(now)
            table.expire(now)
        assert table.holds() == ref.holds()
        assert list(table.holds()) == list(ref.holds())  # the order taken, too
        assert len(table) == len(ref)
        assert [table.used(s) for s in _SITES] == [ref.used(s) for s in _SITES]
        assert c_stats == ref_stats


def test_many_holds_grow_the_table_and_keep_their_order() -> None:
    """Past the table's first 1,024 buckets (fifo.c grows them), holds are found and
    expire oldest first as in the reference."""
    ref, table = SiteAdmission(Counter(), 5000), CAdmission(CLimits(10, 10, 1.0), Counter(), 5000)
    for i in range(3000):
        key = (f"call-{i}", f"tag-{i % 7}")
        _same(
            ref.take("acme", None, 1000, key, 0.0, float(i)),
            table.take("acme", None, 1000, key, 0.0, float(i)),
        )
    _same(ref.ended("call-2500", ("x", "tag-1")), table.ended("call-2500", ("x", "tag-1")))
    ref.expire(1500.0)
    table.expire(1500.0)
    assert list(table.holds().items()) == list(ref.holds().items())
    assert table.used("acme") == ref.used("acme") == 1000 * (3000 - 1501 - 1)
