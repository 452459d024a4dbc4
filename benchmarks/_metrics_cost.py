"""``benchmarks/sip.py --metrics-cost``: the edge's CPU per call with metrics on and off.

The core counts in plain integers whatever happens (``EdgeCore.stats``, the ``+= 1`` is
the same code either way), so "off" cannot mean "not counted". It means what an
operator can switch off: no admin listener (``[admin] port = 0``) and nobody scraping.
"On" is the admin listener on every worker, scraped every second by this script (as a
Prometheus server would, at a short interval), so the cost of building the exposition
counts against the edge. Two edges run side by side, one of each; steps alternate
between them (off, on, on, off, ...: drift of the machine falls on both alike), each on
a settled edge, and the medians of the repetitions are compared, over the steps that
held the rate (a step that fell behind or failed calls costs less per call and is only
shown).
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from _sipp import Setup, Step, run_edge, settle, step, tree_cpu

from tests.sip._load import admin_ports

__all__ = ["metrics_cost", "metrics_table"]

#: Seconds between two scrapes of every worker's /metrics while "on".
SCRAPE_EVERY = 1.0


@contextmanager
def scraping(ports: list[int]) -> Iterator[list[int]]:
    """GET ``/metrics`` of each port every ``SCRAPE_EVERY`` s; yields the scrape count."""
    count = [0]
    stop = threading.Event()

    def run() -> None:
        while not stop.wait(SCRAPE_EVERY):
            for port in ports:
                url = f"http://127.0.0.1:{port}/metrics"
                with urllib.request.urlopen(url, timeout=5) as r:
                    r.read()
                count[0] += 1

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield count
    finally:
        stop.set()
        thread.join()


def scrape_cost(pid: int, port: int, seconds: float = 20.0) -> tuple[float, int]:
    """CPU µs the edge spends per scrape of ``/metrics``, and the scrapes measured: an idle
    edge's CPU over ``seconds``, against the same time scraped 100 times a second."""
    settle(pid)
    c0 = tree_cpu(pid)
    time.sleep(seconds)
    idle = tree_cpu(pid) - c0
    n, c0, end = 0, tree_cpu(pid), time.monotonic() + seconds
    while time.monotonic() < end:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            r.read()
        n += 1
        time.sleep(0.01)
    busy = tree_cpu(pid) - c0
    return 1e6 * max(0.0, busy - idle) / max(1, n), n


def metrics_cost(
    setup: Setup,
    workers: int,
    scenarios: list[str],
    rate: int,
    seconds: float,
    reps: int,
    scrape_seconds: float = 20.0,
) -> list[dict[str, object]]:
    """CPU µs per call with metrics off and on, ``reps`` alternating steps per scenario;
    and, measured directly, the CPU of one scrape (after the steps, counters filled)."""
    admin = admin_ports(workers)
    results: list[dict[str, object]] = []
    off_medians: list[float] = []
    with ExitStack() as stack:
        off = stack.enter_context(run_edge(setup, workers, name="edge-off"))
        on = stack.enter_context(run_edge(setup, workers, admin=admin, name="edge-on"))
        ports = [admin + n for n in range(workers)]
        for scenario in scenarios:
            steps: dict[str, list[Step]] = {"off": [], "on": []}
            scrapes = 0
            for rep in range(reps):
                for mode in ("off", "on") if rep % 2 == 0 else ("on", "off"):
                    port, pid = off if mode == "off" else on
                    settle(pid)
                    if mode == "on":
                        with scraping(ports) as count:
                            s = step(setup, port, pid, scenario, rate, seconds)
                        scrapes += count[0]
                    else:
                        s = step(setup, port, pid, scenario, rate, seconds)
                    steps[mode].append(s)
                    print(f"    {scenario:8} {rate:6} cps metrics {mode:3}: ok={s.ok} "
                          f"failed={s.failed} cpu={s.cpu_per_call_us:.1f}us/call",
                          file=sys.stderr, flush=True)  # fmt: skip
            # A step whose calls failed (the machine fell behind) costs less per call:
            # the medians take only steps that held the rate, as the search does.
            held = {m: [s for s in v if s.passed] or v for m, v in steps.items()}
            med = {m: statistics.median(s.cpu_per_call_us for s in v) for m, v in held.items()}
            off_medians.append(med["off"])
            results.append(
                {
                    "scenario": scenario,
                    "rate": rate,
                    "reps": reps,
                    "scrapes": scrapes,
                    "off_us": [_us(s) for s in steps["off"]],
                    "on_us": [_us(s) for s in steps["on"]],
                    "off_median_us": round(med["off"], 1),
                    "on_median_us": round(med["on"], 1),
                    "ratio": round(med["on"] / med["off"], 4),
                    "failed": sum(s.failed for v in steps.values() for s in v),
                }
            )
        us, n = scrape_cost(on[1], ports[0], scrape_seconds)
    # One scrape a second per worker, shared by the calls of that second.
    per_call = workers * us / rate
    for r, off_median in zip(results, off_medians, strict=True):
        r |= {"scrape_us": round(us), "scrapes": n, "scrape_us_per_call": round(per_call, 3),
              "scrape_share": round(per_call / off_median, 4)}  # fmt: skip
    return results


def metrics_table(results: list[dict[str, object]], seconds: float) -> str:
    """A Markdown table of the medians, their ratio and every step's figure."""
    lines = [
        f"| scenario | rate (cps, {seconds:g} s steps) | reps | CPU µs/call off (median) "
        "| on (median) | on ÷ off | off, each step | on, each step | failed calls "
        "| scrapes, µs/call (share) |",
        "|---|---:|---:|---:|---:|---:|---|---|---:|---:|",
    ]
    for r in results:
        each = {k: _join(r[k]) for k in ("off_us", "on_us")}
        lines.append(
            f"| {r['scenario']} | {r['rate']} | {r['reps']} | {r['off_median_us']} "
            f"| {r['on_median_us']} | {r['ratio']:.3f} | {each['off_us']} | {each['on_us']} "
            f"| {r['failed']} | {r['scrape_us_per_call']} ({r['scrape_share']:.2%}) |"
        )
    if results:
        r = results[0]
        lines.append(
            f"\nOne scrape of /metrics costs the edge {r['scrape_us']} µs of CPU (measured on "
            f"the settled edge, {r['scrapes']} scrapes against as long idle); the last "
            "column is that cost at one scrape per second per worker, per call."
        )
    return "\n".join(lines)


def _us(s: Step) -> str:
    """A step's CPU µs per call; "(rate not held)" marks one left out of the median."""
    return f"{s.cpu_per_call_us:.1f}" + ("" if s.passed else " (rate not held)")


def _join(values: object) -> str:
    assert isinstance(values, list)
    return ", ".join(str(x) for x in values)
