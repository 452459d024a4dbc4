"""SIP edge vs Kamailio under sipp: highest call rate held and CPU time per call.

    python benchmarks/sip.py [--quick] [--json] [--versions] [--workers N]
                             [--proxies edge,kamailio,bare] [--scenarios blocked,allowed,half]
                             [--cpu-rates 400,3200] [--no-search]
    python benchmarks/sip.py --metrics-cost [--cpu-rates 3200] [--reps 5] [--scenarios ...]

For each proxy (``python -m sip_edge`` with N worker processes; Kamailio with
``benchmarks/peers/kamailio.cfg`` and N children) and each scenario (all calls blocked,
all allowed, half and half), sipp places calls from 127.0.0.2 (one socket per call, so
SO_REUSEPORT spreads them over the edge's workers) through the proxy to a sipp UAS
playing the carrier. A rate passes when sipp created every call within the step and
fewer than 1% failed; rates double until one fails, then a bisection step narrows it.
CPU time per call is utime+stime (``/proc/<pid>/stat``) summed over the proxy's whole
process tree during a step, divided by the calls of that step: reported at the highest
rate held and at common rates for every proxy, with the edge/Kamailio ratio. ``bare``
is the floor: benchmarks/peers/bare_responder.py answers 403 with no proxy logic at all.
Every step starts on a settled proxy (idle for a second), so leftovers of an overloaded
step are not billed to the next.
Blocked calls are INVITE/403/ACK; allowed ones INVITE/100/180/200/ACK/BYE/200 through
the proxy.

``--metrics-cost`` measures the edge alone: CPU per call with its admin listener scraped
every second against no listener, in alternating steps at each ``--cpu-rates`` rate
(``benchmarks/_metrics_cost.py`` says what "off" can mean when counting is plain
integer arithmetic).

The edge runs with a copy of ``rules/`` whose power-dialer limits are lifted (one
account places every call) and whose carriers point at the UAS. Nothing here asserts a
timing; ``--quick`` is a smoke run (short steps, few rates).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _metrics_cost import metrics_cost, metrics_table  # sibling module: not a package
from _sipp import (  # sibling module: benchmarks/ is not a package
    ROOT,
    Setup,
    Step,
    _wait_ready,
    free_port,
    highest_rate,
    prepare,
    run_edge,
    settle,
    step,
    versions,
)

KAMAILIO_CFG = ROOT / "benchmarks" / "peers" / "kamailio.cfg"
#: The same made stateful (tm's t_relay()): what the edge is, a transaction-stateful proxy.
KAMAILIO_TM_CFG = ROOT / "benchmarks" / "peers" / "kamailio_tm.cfg"
BARE = ROOT / "benchmarks" / "peers" / "bare_responder.py"


@contextmanager
def run_kamailio(
    setup: Setup, children: int, cfg: pathlib.Path = KAMAILIO_CFG
) -> Iterator[tuple[int, int]]:
    """Kamailio with benchmarks/peers/kamailio.cfg (stateless forward()); yields (port, pid)."""
    port = free_port()
    kam = shutil.which("kamailio") or "/usr/sbin/kamailio"
    cmd = [kam, "-f", str(cfg), "-DD", "-E", "-Y", str(setup.dir), "-w", str(setup.dir),
           "-n", str(children), "-m", "256", "-l", f"udp:127.0.0.1:{port}",
           "-A", f'CARRIER="127.0.0.1:{setup.carrier_port}"']  # fmt: skip
    with open(setup.dir / "kamailio.log", "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(port, proc, pathlib.Path(log.name))
            yield port, proc.pid
        finally:
            proc.terminate()
            proc.wait(timeout=20)


@contextmanager
def run_bare(setup: Setup, workers: int) -> Iterator[tuple[int, int]]:
    """The floor: benchmarks/peers/bare_responder.py (answers 403, no proxy logic)."""
    port = free_port()
    cmd = [sys.executable, str(BARE), str(port), str(workers)]
    with open(setup.dir / "bare.log", "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(port, proc, pathlib.Path(log.name))
            time.sleep(0.5)
            yield port, proc.pid
        finally:
            proc.kill()  # its forked workers exit with their parent's process group below
            proc.wait(timeout=20)
            subprocess.run(["pkill", "-f", f"{BARE} {port} "], check=False)


def run_edge_python(setup: Setup, workers: int) -> AbstractContextManager[tuple[int, int]]:
    """The edge with the C data plane off (``data_plane = "python"``): the reference."""
    return run_edge(setup, workers, name="edge-py", top='data_plane = "python"\n')


def run_edge_unmoderated(setup: Setup, workers: int) -> AbstractContextManager[tuple[int, int]]:
    """The edge with the C plane's read moderation off (``data_plane_pause_ms = 0``)."""
    return run_edge(setup, workers, name="edge-nopause", top="data_plane_pause_ms = 0\n")


def run_kamailio_tm(setup: Setup, children: int) -> AbstractContextManager[tuple[int, int]]:
    """Kamailio stateful (benchmarks/peers/kamailio_tm.cfg, t_relay())."""
    return run_kamailio(setup, children, KAMAILIO_TM_CFG)


RUNNERS: dict[str, Callable[[Setup, int], AbstractContextManager[tuple[int, int]]]] = {
    "edge": run_edge,
    "edge-py": run_edge_python,
    "edge-nopause": run_edge_unmoderated,
    "kamailio": run_kamailio,
    "kamailio-tm": run_kamailio_tm,
    "bare": run_bare,
}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 2 s steps, few rates")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--versions", action="store_true", help="print versions and exit")
    p.add_argument("--workers", type=int, default=2, help="edge workers / Kamailio children")
    p.add_argument("--proxies", default="edge,kamailio")
    p.add_argument("--scenarios", default="blocked,allowed,half")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each step")
    p.add_argument("--start", type=int, default=100, help="first rate (calls/s)")
    p.add_argument("--cap", type=int, default=12800, help="highest rate tried")
    p.add_argument("--cpu-rates", default="200", help="common rates for CPU/call (comma list)")
    p.add_argument("--no-search", action="store_true", help="only the common rates")
    p.add_argument(
        "--metrics-cost",
        action="store_true",
        help="the edge only: CPU/call with the admin listener scraped every second against "
        "no listener, at each --cpu-rates rate, --reps alternating steps",
    )
    p.add_argument("--reps", type=int, default=5, help="--metrics-cost steps per mode")
    args = p.parse_args(argv)
    if args.versions:
        print(json.dumps(versions(), indent=2))
        return 0
    if shutil.which("sipp") is None:
        print("sipp not found (apt-get install sip-tester)", file=sys.stderr)
        return 2
    seconds, start, cap = args.seconds, args.start, args.cap
    cpu_rates = [int(x) for x in args.cpu_rates.split(",") if x]
    if args.quick:
        seconds, start, cap, cpu_rates = 2.0, 50, 100, [50]
    proxies = [x for x in args.proxies.split(",") if x]
    if (
        any(x.startswith("kamailio") for x in proxies)
        and shutil.which("kamailio") is None
        and not os.path.exists("/usr/sbin/kamailio")
    ):
        print("kamailio not found: measuring the others only", file=sys.stderr)
        proxies = [x for x in proxies if not x.startswith("kamailio")]
    if args.metrics_cost:
        return _metrics_cost(args, seconds, cpu_rates)
    results = []
    with tempfile.TemporaryDirectory(prefix="sipbench") as tmp:
        setup = prepare(pathlib.Path(tmp))
        for proxy in proxies:
            with RUNNERS[proxy](setup, args.workers) as (port, pid):
                for scenario in args.scenarios.split(","):
                    if proxy == "bare" and scenario != "blocked":
                        continue  # the floor only answers 403
                    results.append(
                        measure(setup, port, pid, proxy, scenario, cpu_rates, seconds,
                                None if args.no_search else (start, cap))
                    )  # fmt: skip
    if args.json:
        print(json.dumps({"versions": versions(), "results": results}, indent=2))
        return 0
    print(table(results, cpu_rates, seconds))
    return 0


def _metrics_cost(args: argparse.Namespace, seconds: float, cpu_rates: list[int]) -> int:
    reps = 2 if args.quick else args.reps
    scenarios = [x for x in args.scenarios.split(",") if x]
    results = []
    with tempfile.TemporaryDirectory(prefix="sipbench") as tmp:
        setup = prepare(pathlib.Path(tmp))
        for rate in cpu_rates:
            results += metrics_cost(
                setup, args.workers, scenarios, rate, seconds, reps, 2.0 if args.quick else 20.0
            )
    if args.json:
        print(json.dumps({"versions": versions(), "metrics_cost": results}, indent=2))
    else:
        print(metrics_table(results, seconds))
    return 0


def measure(
    setup: Setup,
    port: int,
    pid: int,
    proxy: str,
    scenario: str,
    cpu_rates: list[int],
    seconds: float,
    search: tuple[int, int] | None,
) -> dict[str, object]:
    """CPU per call at each common rate, then (unless ``search`` is None) the highest rate."""
    print(f"{proxy}: {scenario}", file=sys.stderr, flush=True)
    common: dict[int, Step] = {}
    for rate in cpu_rates:
        # Each measurement on a settled proxy: a step over the limit leaves
        # retransmissions and timers behind.
        settle(pid)
        s = common[rate] = step(setup, port, pid, scenario, rate, seconds)
        print(f"    {scenario:8} {rate:6} cps (common rate): ok={s.ok} "
              f"failed={s.failed} cpu={s.cpu_per_call_us:.0f}us/call",
              file=sys.stderr, flush=True)  # fmt: skip
    best = None
    if search is not None:
        settle(pid)
        best, _ = highest_rate(setup, port, pid, scenario, search[0], seconds, search[1])
    return {
        "proxy": proxy,
        "scenario": scenario,
        "max_rate": best.rate if best else None,
        "cpu_us_per_call_at_max": round(best.cpu_per_call_us, 1) if best else None,
        "common": {
            str(rate): {"cpu_us_per_call": round(s.cpu_per_call_us, 1), "passed": s.passed}
            for rate, s in common.items()
        },
        "best": asdict(best) if best else None,
    }


def table(results: list[dict[str, object]], cpu_rates: list[int], seconds: float) -> str:
    """A Markdown table; the CPU ratio per common rate to Kamailio stateless (forward())
    and, when it ran, stateful (t_relay())."""
    peers = [p for p in ("kamailio", "kamailio-tm") if any(r["proxy"] == p for r in results)]
    by = {(r["proxy"], r["scenario"]): r for r in results}
    head = [f"scenario | proxy | highest rate held (cps, <1% failed, {seconds:g} s) "
            "| CPU µs/call at that rate"]  # fmt: skip
    for rate in cpu_rates:
        head.append(f"CPU µs/call at {rate} cps")
        head += [f"÷ {'Kamailio' if p == 'kamailio' else 'Kamailio stateful'}" for p in peers]
    per_rate = 1 + len(peers)
    lines = [
        "| " + " | ".join(head) + " |",
        "|---|---|---:|---:|" + "---:|" * per_rate * len(cpu_rates),
    ]
    for r in results:
        at_max = r["cpu_us_per_call_at_max"]
        cells = [str(r["scenario"]), str(r["proxy"]), str(r["max_rate"] or "-"),
                 str(at_max if at_max is not None else "-")]  # fmt: skip
        common = r["common"]
        assert isinstance(common, dict)
        for rate in cpu_rates:
            c = common[str(rate)]
            cells.append(f"{c['cpu_us_per_call']}{'' if c['passed'] else ' (failed calls)'}")
            for peer in peers:
                other = by.get((peer, r["scenario"]))
                ratio = "-"
                if other is not None and r["proxy"] != peer:
                    theirs = other["common"][str(rate)]["cpu_us_per_call"]  # type: ignore[index]
                    ratio = f"{c['cpu_us_per_call'] / max(theirs, 0.1):.2f}×"
                cells.append(ratio)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
