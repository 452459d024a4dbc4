"""Benchmark: the per-call decision in C (sip_edge/fast/decide.c) next to decide().

The scenarios and the account of benchmarks/decide.py, in one run, three ways:

- ``decide()``: ``policy.decide(snapshot, call, account)`` through timeit, as decide.py;
- ``C via Python``: ``CRules.decide(account, dial)``, the wrapper (bytes in, tuple out),
  through timeit: what a Python caller would pay;
- ``C loop``: ``CRules.bench(account, dial, n)``: ``cp_decide`` n times in a C loop, no
  Python per call: what the C data plane (sip_edge/fast/refuse.c) pays.

C does not compute the caller identity (the UPN check), so "allow + UPN check" costs it
the same as any allow. Each scenario's C answer is checked against decide() first.

    python benchmarks/cdecide.py [--json] [--quick] [--cpu-time]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
import timeit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.decide import POLICY, SCENARIOS  # noqa: E402
from policy import compile_account, compile_dir, decide  # noqa: E402
from sip_edge.fast._cdecide import (  # noqa: E402
    ALLOW,
    EMERGENCY,
    REFUSE,
    CAccount,
    CRules,
    uses_popcnt,
)
from sip_edge.fast.tables import RowTable  # noqa: E402

_VERDICTS = {"allow": ALLOW, "block": REFUSE, "reject": REFUSE, "emergency": EMERGENCY}


def _median_ns(fn: object, number: int, repeat: int, cpu: bool) -> float:
    timer = time.thread_time if cpu else time.perf_counter
    times = timeit.repeat(fn, number=number, repeat=repeat, timer=timer)  # type: ignore[arg-type]
    return statistics.median(times) / number * 1e9


def main() -> int:
    """Run the benchmark and print a table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--quick", action="store_true", help="few iterations (smoke test)")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time all three with the thread's CPU time (a busy machine preempts the run)",
    )
    args = parser.parse_args()
    number, repeat, loop = (2_000, 3, 20_000) if args.quick else (200_000, 7, 2_000_000)

    snap = compile_dir(os.path.join(ROOT, "rules"))
    account = compile_account(snap, POLICY)
    rules = CRules.build(snap)
    caccount = CAccount.build(rules, account)
    rows = RowTable(snap)
    out = []
    for name, call in SCENARIOS:
        dial = call.to.encode()
        expected = decide(snap, call, account)
        got = rules.decide(caccount, dial)
        assert got is not None, f"{name}: C fell back"
        verdict, row, _, digits = got
        assert verdict == _VERDICTS[expected.verdict], name
        assert rows.templates[row].reason == expected.reason, name
        assert digits == expected.number, name
        cpu = args.cpu_time
        py = _median_ns(lambda c=call: decide(snap, c, account), number, repeat, cpu)
        wrapped = _median_ns(lambda d=dial: rules.decide(caccount, d), number, repeat, cpu)
        c_loop = statistics.median(rules.bench(caccount, dial, loop, cpu) for _ in range(repeat))
        out.append(
            {
                "scenario": name,
                "verdict": expected.verdict,
                "decide_ns": py,
                "c_python_ns": wrapped,
                "c_loop_ns": c_loop,
            }
        )
    empty = _median_ns(lambda: None, number, repeat, args.cpu_time)
    medians = {
        k: statistics.median(float(r[k]) for r in out)  # type: ignore[arg-type]
        for k in ("decide_ns", "c_loop_ns")
    }
    if args.json:
        print(json.dumps({"rows": out, "empty_call_ns": empty, "medians": medians}, indent=2))
        return 0
    print(f"C decision benchmark: Python {platform.python_version()}, {os.cpu_count()} cores,")
    print(f"POPCNT build: {uses_popcnt()}; median of {repeat} repeats x {number} calls")
    clock = "thread CPU time" if args.cpu_time else "wall time"
    print(f"(C loop: x {loop} calls in C), {clock}; an empty Python call costs {empty:.0f} ns")
    print()
    print(
        f"| {'scenario':<24} | {'verdict':<9} | {'decide() ns':>11} "
        f"| {'C via Python ns':>15} | {'C loop ns':>9} | {'ratio':>6} |"
    )
    print(f"|{'-' * 26}|{'-' * 11}|{'-' * 13}|{'-' * 17}|{'-' * 11}|{'-' * 8}|")
    for r in out:
        ratio = r["decide_ns"] / r["c_loop_ns"]  # type: ignore[operator]
        print(
            f"| {r['scenario']:<24} | {r['verdict']:<9} | {r['decide_ns']:>11.0f} "
            f"| {r['c_python_ns']:>15.0f} | {r['c_loop_ns']:>9.1f} | {ratio:>5.0f}x |"
        )
    print()
    print(
        f"median over the scenarios: decide() {medians['decide_ns']:.0f} ns, "
        f"C loop {medians['c_loop_ns']:.1f} ns"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
