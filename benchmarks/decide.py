"""Benchmark: a whole decide() (dial string to Decision) against the direct engine path.

Target (issue "The policy core"): decide() under 1 microsecond median. The reference is
``decide_direct`` (linear scans plus one durable-rules evaluation), the slow twin the
differential tests compare against: the ratio is what compiling buys.

    python benchmarks/decide.py [--json] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import timeit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from policy import AccountPolicy, Call, compile_account, compile_dir, decide  # noqa: E402
from policy.compiler.reference import decide_direct  # noqa: E402

SCENARIOS = [
    ("allow, E.164 +49", Call(to="+4930987654")),
    ("allow, national 0", Call(to="0401234567")),
    ("allow + UPN check", Call(to="+4930987654", from_number="+4930123457")),
    ("block, premium 09001", Call(to="+499001123456")),
    ("block, customer prefix", Call(to="+49891234567")),
    ("allow, lifted default", Call(to="+4911833")),
    ("emergency 112", Call(to="112")),
    ("reject, call-by-call", Call(to="01019030123456")),
    ("separators + tel: URI", Call(to="tel:+49-30-987654")),
]

#: The calling account of every scenario (also benchmarks/cdecide.py's and the C tests').
POLICY = AccountPolicy(
    account="bench",
    npn="+4930123456",
    area_code="30",
    numbers=("+4930123457",),
    blocked_prefixes=("+4989",),
    lifted=("directory",),
)


def _median_ns(fn: object, number: int, repeat: int) -> float:
    times = timeit.repeat(fn, number=number, repeat=repeat)  # type: ignore[arg-type]
    return statistics.median(times) / number * 1e9


def main() -> int:
    """Run the benchmark and print a table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true", help="few iterations (smoke test)")
    args = parser.parse_args()
    number, repeat, ref_number = (2_000, 3, 20) if args.quick else (200_000, 7, 2_000)

    snap = compile_dir(os.path.join(ROOT, "rules"))
    policy = POLICY
    account = compile_account(snap, policy)
    rows = []
    for name, call in SCENARIOS:
        assert decide(snap, call, account) == decide_direct(snap.rules, call, policy), name
        fast = _median_ns(lambda c=call: decide(snap, c, account), number, repeat)
        slow = _median_ns(lambda c=call: decide_direct(snap.rules, c, policy), ref_number, repeat)
        verdict = decide(snap, call, account).verdict
        rows.append({"scenario": name, "verdict": verdict, "decide_ns": fast, "direct_ns": slow})
    all_fast = statistics.median(r["decide_ns"] for r in rows)  # type: ignore[misc]
    if args.json:
        print(json.dumps({"rows": rows, "median_decide_ns": all_fast}, indent=2))
        return 0
    print(f"decide() benchmark: Python {platform.python_version()}, {os.cpu_count()} cores,")
    print(f"median of {repeat} repeats x {number} calls (direct path: x {ref_number})")
    print()
    print(
        f"| {'scenario':<24} | {'verdict':<9} | {'decide() ns':>11} "
        f"| {'direct ns':>10} | {'ratio':>6} |"
    )
    print(f"|{'-' * 26}|{'-' * 11}|{'-' * 13}|{'-' * 12}|{'-' * 8}|")
    for r in rows:
        ratio = r["direct_ns"] / r["decide_ns"]  # type: ignore[operator]
        print(
            f"| {r['scenario']:<24} | {r['verdict']:<9} | {r['decide_ns']:>11.0f} "
            f"| {r['direct_ns']:>10.0f} | {ratio:>5.0f}x |"
        )
    print()
    print(f"median decide() over the scenarios: {all_fast:.0f} ns (target < 1000 ns)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
