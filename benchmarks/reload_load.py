"""SIGHUP reloads under load: 10 reloads in 60 s at half the edge's highest rate, and a
broken rule file pushed mid-run (issue 12, "Reload you can trust").

    python benchmarks/reload_load.py [--max-rate N] [--workers 2] [--seconds 60]
                                     [--reloads 10] [--shed-after S] [--json] [--quick]

The edge (``python -m sip_edge``, N workers, admin listeners on) serves ``rules``, a
symlink to one of two release directories: ``rules-a`` (the shipped rules, carriers
pointed at the UAS, power-dialer limits lifted) and ``rules-b`` (the same plus one
operator block). Without ``--max-rate`` the highest rate of half-blocked calls the edge
holds is searched first (benchmarks/sip.py's search, 10 s steps). Then two sipp UACs
place allowed calls (each must be answered 200 through the carrier's sipp UAS) and
blocked ones (each must get 403 premium_rate) at half that rate together, for
``--seconds``. Reloads are spread evenly over the run; each swaps the symlink to the
other release and sends SIGHUP, and the script waits until every worker's ``/metrics``
shows the reload and the other revision. Half-way, a broken ``blocks.toml`` is written
into the live release and SIGHUP sent: every worker must refuse it and keep its
revision; the file is then put back. Reload time is reported twice: as the edge logs it
(compiling and swapping the rules) and as seen from outside (SIGHUP sent to every
worker's ``/metrics`` showing the new revision, polled every 10 ms). p99 of a dozen
samples is their maximum. Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import pathlib
import signal
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _sipp import (  # sibling module
    BENCH_LIMITS,
    SCENARIOS,
    highest_rate,
    prepare,
    quiesce,
    run_edge,
)

from tests._procs import free_port
from tests.sip._load import (
    BROKEN,
    BROKEN_LINE,
    Load,
    admin_ports,
    health,
    load_args,
    metric,
    point,
    releases,
    revision,
    scrape,
    second_release,
    wait_admin,
    wait_until,
    write_atomically,
)

ALLOWED, BLOCKED = "+4930555000", "09001234567"
REASON = (
    '<ereg regexp="premium_rate" search_in="hdr" header="Reason:" check_it="true" assign_to="c"/>'
)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (the maximum for q=99 and fewer than 100 values; nan for
    no values)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def reload_seconds(log: pathlib.Path, since: int) -> tuple[list[float], list[float]]:
    """The ``seconds`` of the successful and failed reload events after byte ``since``."""
    ok: list[float] = []
    failed: list[float] = []
    with log.open("rb") as f:
        f.seek(since)
        for line in f:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if event.get("event") == "reload":
                (ok if event["ok"] else failed).append(float(event["seconds"]))
    return ok, failed


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-rate", type=int, default=0, help="the edge's highest rate (0: find)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seconds", type=float, default=60.0, help="length of the loaded run")
    p.add_argument("--reloads", type=int, default=10, help="good reloads during the run")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quick", action="store_true", help="smoke run: 200 cps max, 12 s, 2")
    p.add_argument("--work", help="work directory to keep (default: a temporary one)")
    p.add_argument(
        "--shed-after", type=float, default=None, help="the edge's limits.shed_after (seconds)"
    )
    args = p.parse_args(argv)
    if args.quick:
        args.max_rate, args.seconds, args.reloads = args.max_rate or 200, 12.0, 2
    with tempfile.TemporaryDirectory(prefix="reloadbench") as tmp:
        work = pathlib.Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        setup = prepare(work)
        link = work / "rules"
        releases(link)
        second_release(link)
        admin = admin_ports(args.workers)
        limits = BENCH_LIMITS
        if args.shed_after is not None:
            limits += f"shed_after = {args.shed_after}\n"
        with run_edge(setup, args.workers, limits=limits, admin=admin) as (port, pid):
            max_rate = args.max_rate
            if not max_rate:
                best, _ = highest_rate(setup, port, pid, "half", 800, 10.0, 25600)
                if best is None:
                    raise SystemExit("the edge held no rate from 800 calls/s up")
                max_rate = best.rate
                quiesce(pid)
            result = run(work, setup.uas_xml, setup.carrier_port, port, pid, admin, max_rate, args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(table(result))
    return 0


def run(
    work: pathlib.Path,
    uas_xml: pathlib.Path,
    carrier_port: int,
    port: int,
    pid: int,
    admin: int,
    max_rate: int,
    args: argparse.Namespace,
) -> dict[str, object]:
    """The loaded run: calls at half ``max_rate``, the reloads, the broken file."""
    workers = [admin + n for n in range(args.workers)]
    wait_admin(workers)
    link = work / "rules"
    log = work / "edge.log"
    since = log.stat().st_size
    refused_xml = work / "uac_refused_403.xml"
    refused_xml.write_text(
        (SCENARIOS / "uac_refused.xml")
        .read_text()
        .replace("{{STATUS}}", "403")
        .replace("{{CHECKS}}", REASON)
    )
    rate = max(2, max_rate // 2)
    target = f"127.0.0.1:{port}"

    def uac(xml: pathlib.Path, name: str, number: str, key: str, value: str) -> Load:
        a = load_args(str(xml), "127.0.0.2", free_port("127.0.0.2"), rate // 2, "-t", "un")
        a += ["-s", number, "-key", "from", "+493012345000", "-key", key, value, target]
        return Load(a, work, name)

    carrier = Load(load_args(str(uas_xml), "127.0.0.1", carrier_port, 0), work, "carrier")
    time.sleep(0.5)
    loads = [
        uac(SCENARIOS / "uac_call.xml", "allowed", ALLOWED, "privacy", "none"),
        uac(refused_xml, "blocked", BLOCKED, "codec", "8 101"),
    ]
    shed0 = [(events(w, "overload_503"), events(w, "shedding_started")) for w in workers]
    start = time.monotonic()
    served = [revision(scrape(workers[0]))]
    visible: list[float] = []
    broken: dict[str, object] = {}
    every = args.seconds / (args.reloads + 2)
    try:
        for n in range(1, args.reloads + 1):
            time.sleep(max(0.0, start + n * every - time.monotonic()))
            point(link, "rules-b" if n % 2 else "rules-a")
            visible.append(sighup(pid, workers, "ok", n, served))
            if n == args.reloads // 2:
                time.sleep(max(0.0, start + (n + 0.5) * every - time.monotonic()))
                broken = push_broken(link, pid, workers, served[-1])
        time.sleep(max(0.0, start + args.seconds - time.monotonic()))
    finally:
        results = {load.name: load.stop() for load in [*loads, carrier]}
    ok, failed = reload_seconds(log, since)
    return {
        "max_rate": max_rate,
        "rate": rate,
        "allowed_rate": rate // 2,
        "seconds": round(time.monotonic() - start, 1),
        "workers": args.workers,
        "calls": {
            name: {"status": code, "created": c.created, "ok": c.ok, "failed": c.failed}
            for name, (code, c) in results.items()
        },
        "shed": [events(w, "overload_503") - s0 for w, (s0, _) in zip(workers, shed0, strict=True)],
        "shedding_started": [events(w, "shedding_started") - e0
                             for w, (_, e0) in zip(workers, shed0, strict=True)],
        "reloads_ok": [reloads(w, "ok") for w in workers],
        "reloads_refused": [reloads(w, "failed") for w in workers],
        "revisions": sorted(set(served)),
        "broken": broken,
        "edge_reload_s": {"p50": percentile(ok, 50), "p99": percentile(ok, 99), "n": len(ok)},
        "refusal_s": {"p50": percentile(failed, 50), "n": len(failed)},
        "visible_reload_s": {"p50": percentile(visible, 50), "p99": percentile(visible, 99),
                             "n": len(visible)},
    }  # fmt: skip


def reloads(port: int, result: str) -> int:
    """The SIGHUP reloads with ``result`` (ok, failed) the worker's admin on ``port`` counts."""
    return int(metric(scrape(port), "callpolicy_rules_reloads_total", result=result))


def events(port: int, name: str) -> int:
    """The worker's count of the core's event ``name`` (``callpolicy_sip_events_total``)."""
    return int(metric(scrape(port), "callpolicy_sip_events_total", event=name))


def counted(port: int, result: str, n: int) -> bool:
    """Whether the worker's admin on ``port`` counts ``n`` reloads with ``result``."""
    return reloads(port, result) == n


def sighup(pid: int, workers: list[int], result: str, n: int, served: list[str]) -> float:
    """SIGHUP; wait until every worker counts ``n`` reloads with ``result``; the seconds
    that took. After a good reload the revision must have changed (appended to ``served``)."""
    sent = time.monotonic()
    os.kill(pid, signal.SIGHUP)
    for w in workers:
        wait_until(functools.partial(counted, w, result, n), timeout=60, every=0.01)
    took = time.monotonic() - sent
    if result == "ok":
        now = {revision(scrape(w)) for w in workers}
        assert len(now) == 1 and served[-1] not in now, (served, now)
        served.append(now.pop())
    return took


def push_broken(link: pathlib.Path, pid: int, workers: list[int], kept: str) -> dict[str, object]:
    """Write a broken blocks.toml into the live release, SIGHUP, check every worker
    refused it and kept ``kept``, put the file back; what was seen."""
    blocks = link / "blocks.toml"
    good = blocks.read_text()
    write_atomically(blocks, good + BROKEN)
    line = (good + BROKEN).splitlines().index(BROKEN_LINE) + 1
    took = sighup(pid, workers, "failed", 1, [kept])
    seen = [(revision(scrape(w)), health(w)) for w in workers]
    located = f"{blocks}:{line}:"
    write_atomically(blocks, good)
    return {
        "refused_by": sum(1 for _, h in seen if located in h.get("reload_error", "")),
        "revision_kept": all(r == kept for r, _ in seen),
        "revision_before": kept[:12],
        "revision_after": seen[0][0][:12],
        "error": seen[0][1].get("reload_error", "").splitlines()[-1],
        "visible_s": round(took, 3),
    }


def table(r: dict[str, object]) -> str:
    """A Markdown table of one run."""
    calls = r["calls"]
    broken = r["broken"]
    edge_s, vis_s = r["edge_reload_s"], r["visible_reload_s"]
    assert isinstance(calls, dict) and isinstance(broken, dict)
    assert isinstance(edge_s, dict) and isinstance(vis_s, dict)
    half = f"{r['rate']} cps ({r['allowed_rate']} allowed + {r['allowed_rate']} blocked)"
    rows = [
        ("edge highest rate, half blocked (cps)", r["max_rate"]),
        ("load", half),
        ("workers", r["workers"]),
        ("run (s)", r["seconds"]),
    ]
    for name in ("allowed", "blocked", "carrier"):
        c = calls[name]
        rows.append((f"{name}: calls / failed (sipp exit status)",
                     f"{c['ok'] + c['failed']} / {c['failed']} ({c['status']})"))  # fmt: skip
    rows += [
        ("during the run: calls shed with 503 / shedding episodes per worker",
         f"{r['shed']} / {r['shedding_started']}"),
        ("reloads ok / refused per worker", f"{r['reloads_ok']} / {r['reloads_refused']}"),
        ("broken file: refused by workers / revision kept",
         f"{broken.get('refused_by')} / {broken.get('revision_kept')}"),
        ("revision before / after the broken file",
         f"{broken.get('revision_before')} / {broken.get('revision_after')}"),
        ("the error reported", f"`{broken.get('error')}`"),
        ("reload time in the edge, p50 / p99 (s)",
         f"{edge_s['p50']:.3f} / {edge_s['p99']:.3f} (n={edge_s['n']})"),
        ("SIGHUP to every worker serving it, p50 / p99 (s)",
         f"{vis_s['p50']:.3f} / {vis_s['p99']:.3f} (n={vis_s['n']})"),
    ]  # fmt: skip
    lines = ["| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
