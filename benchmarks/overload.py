"""Overload: twice the edge's highest rate, 110/112 mixed in (issue 12, "Overload").

    python benchmarks/overload.py [--max-rate N] [--workers 1] [--seconds 60]
                                  [--emergency-rate 10] [--json] [--quick]

The edge (``python -m sip_edge``, one worker by default so that this machine can
overload it, the shipped ``[limits]``: max_in_flight 5,000, max_transactions 50,000,
emergency_reserve 1,000; admin listener on) gets allowed calls from a sipp UAC
(``uac_load.xml``: a 503 is a call shed, not a failure) at twice the highest rate of
allowed calls it holds (benchmarks/sip.py's search, 10 s steps, unless ``--max-rate``),
answered by a sipp UAS as the carrier. A second sipp UAC places 110 and 112 in turn at
``--emergency-rate`` calls/s, answered by a sipp UAS as the PSAP, which checks each
INVITE's routing number (both UASs take a BYE whose ACK the overloaded socket lost,
``ack_optional`` in tests/sip/_load.py). Reported: the calls of each sipp, the edge's
counters of shed calls (``overload_503``, ``shedding_started``) from ``/metrics``, and
its RSS (``/proc/<pid>/status``, sampled every second): fresh, before the run (after
the search, which overloads the edge too) and through it (bounded memory: once the
tables are full, it stops growing).
Nothing here asserts a timing.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _sipp import SCENARIOS, highest_rate, prepare, quiesce, run_edge, settle, tree_cpu  # sibling

from tests._procs import free_port
from tests.sip._load import (
    Load,
    ack_optional,
    admin_ports,
    load_args,
    metric,
    rss_kb,
    scrape,
    sipp_messages,
)

#: config/edge.toml's [limits] (the defaults an operator starts from).
SHIPPED_LIMITS = "max_in_flight = 5000\nmax_transactions = 50000\nemergency_reserve = 1000\n"
PSAP_CHECK = (
    '<ereg regexp="^INVITE sip:491(12|10)03001@" search_in="msg" check_it="true" assign_to="c"/>'
)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--max-rate", type=int, default=0, help="highest allowed rate (0: find)")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--seconds", type=float, default=60.0, help="length of the overload")
    p.add_argument("--emergency-rate", type=int, default=10, help="110/112 calls per second")
    p.add_argument("--json", action="store_true")
    p.add_argument("--quick", action="store_true", help="smoke run: 100 cps max, 6 s")
    p.add_argument("--work", help="work directory to keep (default: a temporary one)")
    p.add_argument("--trace", action="store_true", help="sipp message traces of 110/112")
    args = p.parse_args(argv)
    if args.quick:
        args.max_rate, args.seconds, args.emergency_rate = args.max_rate or 100, 6.0, 2
    with tempfile.TemporaryDirectory(prefix="overloadbench") as tmp:
        work = pathlib.Path(args.work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        setup = prepare(work)
        psap = free_port()
        admin = admin_ports(args.workers)
        edge = run_edge(setup, args.workers, limits=SHIPPED_LIMITS, admin=admin, psap=psap)
        with edge as (port, pid):
            fresh = rss_kb(pid)
            max_rate = args.max_rate
            if not max_rate:
                best, _ = highest_rate(setup, port, pid, "allowed", 400, 10.0, 25600)
                if best is None:
                    raise SystemExit("the edge held no rate from 400 calls/s up")
                max_rate = best.rate
                quiesce(pid)
            settle(pid)
            result = overload(work, setup.uas_xml, setup.carrier_port, psap, port, pid, admin,
                              max_rate, args)  # fmt: skip
            result["rss_mb_fresh"] = round(fresh / 1024, 1)
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


def overload(
    work: pathlib.Path,
    uas_xml: pathlib.Path,
    carrier_port: int,
    psap_port: int,
    port: int,
    pid: int,
    admin: int,
    max_rate: int,
    args: argparse.Namespace,
) -> dict[str, object]:
    """The run at twice ``max_rate`` with emergency calls mixed in."""
    target = f"127.0.0.1:{port}"
    load_xml = work / "uac_load.xml"
    load_xml.write_text((SCENARIOS / "uac_load.xml").read_text().replace("[service]", "[field0]"))
    em_xml = work / "uac_emergency.xml"
    em_xml.write_text((SCENARIOS / "uac_call.xml").read_text().replace("[service]", "[field0]"))
    (work / "emergency.csv").write_text("SEQUENTIAL\n110;\n112;\n")
    psap_xml = work / "uas_psap.xml"
    psap_xml.write_text(
        ack_optional((SCENARIOS / "uas_answer.xml").read_text().replace("{{CHECKS}}", PSAP_CHECK))
    )
    carrier_xml = work / "uas_carrier.xml"
    carrier_xml.write_text(ack_optional(uas_xml.read_text()))
    uases = [
        Load(load_args(str(carrier_xml), "127.0.0.1", carrier_port, 0), work, "carrier"),
        Load(load_args(str(psap_xml), "127.0.0.1", psap_port, 0), work, "psap"),
    ]
    time.sleep(0.5)
    rate = 2 * max_rate
    flood = load_args(str(load_xml), "127.0.0.2", free_port("127.0.0.2"), rate, "-t", "un")
    flood += ["-inf", str(work / "allowed.csv"), "-key", "from", "+493012345000", target]
    em = load_args(str(em_xml), "127.0.0.2", free_port("127.0.0.2"), args.emergency_rate)
    em += ["-inf", str(work / "emergency.csv"), "-key", "from", "+493012345000"]
    em += ["-key", "privacy", "none", target]
    if args.trace:
        em += ["-trace_msg", "-message_file", str(work / "emergency.msgs")]
    before = rss_kb(pid)
    cpu0 = tree_cpu(pid)
    start = time.monotonic()
    uacs = [Load(flood, work, "load"), Load(em, work, "emergency")]
    rss: list[tuple[float, int]] = []
    try:
        while time.monotonic() - start < args.seconds:
            time.sleep(1.0)
            rss.append((time.monotonic() - start, rss_kb(pid)))
    finally:
        ends = {u.name: u.stop() for u in reversed(uacs)}
        elapsed = time.monotonic() - start
        cpu = tree_cpu(pid) - cpu0
        ends |= {u.name: u.stop() for u in uases}
    samples = scrape(admin)
    sipps = {u.name: dict(reversed(sipp_messages(u.text()))) for u in [*uacs, *uases]}

    def rss_at(fraction: float) -> float:
        """MB at the last sample up to ``fraction`` of the run."""
        kb = [k for t, k in rss if t <= fraction * args.seconds + 0.5] or [before]
        return round(kb[-1] / 1024, 1)

    def events(name: str) -> int:
        return int(metric(samples, "callpolicy_sip_events_total", event=name))

    return {
        "workers": args.workers,
        "max_rate": max_rate,
        "rate": rate,
        "emergency_rate": args.emergency_rate,
        "seconds": round(elapsed, 1),
        "edge_cpu_share": round(cpu / elapsed, 2),
        "calls": {
            name: {"status": code, "created": c.created, "ok": c.ok, "failed": c.failed}
            for name, (code, c) in ends.items()
        },
        # The first INVITE and 200 of a scenario (dict(reversed(...)): first one wins).
        "emergency_answered": sipps["emergency"].get("200", 0),
        "psap_invites": sipps["psap"].get("INVITE", 0),
        "psap_200": sipps["psap"].get("200", 0),
        "forwarded": events("forwarded"),
        "overload_503": events("overload_503"),
        "shedding_started": events("shedding_started"),
        "emergency_forwarded": events("emergency"),
        "rss_mb": {
            "before": round(before / 1024, 1),
            **{f"at_{q}": rss_at(q / 100) for q in (25, 50, 75, 100)},
            "peak": round(max([before] + [kb for _, kb in rss]) / 1024, 1),
        },
    }


def table(r: dict[str, object]) -> str:
    """A Markdown table of one run."""
    calls, rss = r["calls"], r["rss_mb"]
    assert isinstance(calls, dict) and isinstance(rss, dict)

    def c(name: str) -> str:
        x = calls[name]
        return f"{x['created']} / {x['ok']} / {x['failed']} ({x['status']})"

    rows = [
        ("edge workers; highest allowed rate held (cps)", f"{r['workers']}; {r['max_rate']}"),
        ("load (cps, allowed calls) for (s)", f"{r['rate']} for {r['seconds']}"),
        ("edge CPU (cores busy)", r["edge_cpu_share"]),
        ("load calls: created / ok (answered or shed) / failed (sipp status)", c("load")),
        ("carrier: answered / ok / failed", c("carrier")),
        ("forwarded / shed with 503 / shedding episodes",
         f"{r['forwarded']} / {r['overload_503']} / {r['shedding_started']}"),
        (f"110/112 at {r['emergency_rate']} cps: placed / ok / failed (sipp status)",
         c("emergency")),
        ("110/112: forwarded by the edge / INVITEs at the PSAP / 200s sent by the PSAP / "
         "200s at the caller", f"{r['emergency_forwarded']} / {r['psap_invites']} / "
         f"{r['psap_200']} / {r['emergency_answered']}"),
        ("PSAP: calls / ok / failed (sipp status)", c("psap")),
        ("edge RSS MB: fresh / before the run / at 25, 50, 75, 100 % of it / peak",
         f"{r['rss_mb_fresh']} / {rss['before']} / {rss['at_25']}, {rss['at_50']}, "
         f"{rss['at_75']}, {rss['at_100']} / {rss['peak']}"),
    ]  # fmt: skip
    return "\n".join(["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)])


if __name__ == "__main__":
    raise SystemExit(main())
