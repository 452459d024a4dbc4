"""Kamailio asking callpolicy (redirect mode) against Kamailio alone: CPU per call, sipp.

    python benchmarks/sip_redirect.py [--rates 400,1600] [--scenarios allowed,blocked]
                                      [--seconds 10] [--repeat 3] [--children 2]
                                      [--json] [--versions] [--quick]

Three set-ups, each driven by sipp from 127.0.0.2 (``benchmarks/_sipp.py``'s steps: one
socket per call, a sipp UAS playing the carrier):

- ``kamailio``: Kamailio alone with ``benchmarks/peers/kamailio.cfg`` (its own blocklist
  in the config, stateless forwarding: what ``benchmarks/sip.py`` measures);
- ``kamailio-tm``: the same made stateful (``benchmarks/peers/kamailio_tm.cfg``: tm's
  ``t_relay()``), as SBCs usually run: what of the difference is tm's;
- ``kamailio+redirect``: Kamailio with ``docs/examples/kamailio-redirect.cfg`` (stateful:
  tm, a failure route, uac_redirect, the From rewritten with uac) asking
  ``python -m sip_edge`` in redirect mode (one worker: all of Kamailio's INVITEs come from
  one socket, so SO_REUSEPORT would hand them all to one worker anyway) about each INVITE.

CPU per call is utime+stime (``/proc``) of every process tree of the set-up during a
step, divided by the calls of the step; for ``kamailio+redirect`` it is Kamailio's and
callpolicy's summed, and both parts are shown. Each (set-up, scenario, rate) runs
``--repeat`` times on a settled set-up; the table shows medians, and whether every run
held the rate (every call created, under 1% failed). An allowed call is INVITE, 100,
180, 200, ACK, BYE, 200 (through redirect, plus INVITE, 302, ACK to callpolicy); a
blocked one INVITE, 403, ACK. Nothing here asserts a timing; ``--quick`` is a smoke run.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from _sipp import (  # sibling module: benchmarks/ is not a package
    ROOT,
    Setup,
    _wait_ready,
    free_port,
    prepare,
    settle,
    step,
    tree_cpu,
    versions,
)

ALONE = ROOT / "benchmarks" / "peers" / "kamailio.cfg"
STATEFUL = ROOT / "benchmarks" / "peers" / "kamailio_tm.cfg"
EXAMPLE = ROOT / "docs" / "examples" / "kamailio-redirect.cfg"


@contextmanager
def run_kamailio(
    setup: Setup, cfg: pathlib.Path, children: int, port: int, defines: list[str]
) -> Iterator[int]:
    """Kamailio with ``cfg`` on 127.0.0.1:``port``; yields its pid."""
    kam = shutil.which("kamailio") or "/usr/sbin/kamailio"
    run = setup.dir / f"kamailio-{port}"
    run.mkdir()
    cmd = [kam, "-f", str(cfg), "-DD", "-E", "-Y", str(run), "-w", str(run),
           "-n", str(children), "-m", "512", "-l", f"udp:127.0.0.1:{port}"]  # fmt: skip
    for define in defines:
        cmd += ["-A", define]
    with open(run / "kamailio.log", "ab") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(port, proc, pathlib.Path(log.name))
            yield proc.pid
        finally:
            proc.terminate()
            proc.wait(timeout=20)


@contextmanager
def run_redirect_edge(setup: Setup, sbc: int) -> Iterator[tuple[int, int]]:
    """``python -m sip_edge`` in redirect mode, the SBC on 127.0.0.1:``sbc`` a trunk of
    the bench account (and 127.0.0.2, so the readiness ping is answered); yields
    (port, pid)."""
    port = free_port()
    cfg = setup.dir / "redirect-edge.toml"
    cfg.write_text(
        f'mode = "redirect"\npsap = "127.0.0.1:{free_port()}"\n'
        f'[listen]\nhost = "127.0.0.1"\nport = {port}\nworkers = 1\ntcp = false\n'
        f'[decision_log]\npath = "{setup.dir / "redirect-decisions.jsonl"}"\n'
        f'[[trunk]]\naddress = "127.0.0.1:{sbc}"\naccount = "bench"\n'
        '[[trunk]]\naddress = "127.0.0.2"\naccount = "bench"\n'
    )
    cmd = [sys.executable, "-m", "sip_edge", "--config", str(cfg),
           "--rules", str(setup.dir / "rules"),
           "--store", f"sqlite:///{setup.dir / 'state.db'}"]  # fmt: skip
    with open(setup.dir / "redirect-edge.log", "ab") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(port, proc, pathlib.Path(log.name))
            yield port, proc.pid
        finally:
            proc.terminate()
            proc.wait(timeout=40)


@contextmanager
def setup_of(setup: Setup, name: str, children: int) -> Iterator[tuple[int, dict[str, int]]]:
    """Start set-up ``name``; yields (the port sipp calls, {part: pid of its tree})."""
    port = free_port()
    with ExitStack() as stack:
        if name in ("kamailio", "kamailio-tm"):
            cfg = ALONE if name == "kamailio" else STATEFUL
            carrier = f'CARRIER="127.0.0.1:{setup.carrier_port}"'
            pid = stack.enter_context(run_kamailio(setup, cfg, children, port, [carrier]))
            yield port, {"kamailio": pid}
        else:
            edge_port, edge_pid = stack.enter_context(run_redirect_edge(setup, port))
            defines = [f'CALLPOLICY="127.0.0.1:{edge_port}"', f'PSAP="127.0.0.1:{free_port()}"']
            pid = stack.enter_context(run_kamailio(setup, EXAMPLE, children, port, defines))
            yield port, {"kamailio": pid, "callpolicy": edge_pid}


@dataclass
class Run:
    """One sipp step at one rate, CPU split by process tree."""

    passed: bool
    calls: int
    failed: int
    cpu_us: dict[str, float]
    """Microseconds of CPU per call, per part of the set-up."""


def measure(
    setup: Setup, port: int, pids: dict[str, int], scenario: str, rate: int, seconds: float
) -> Run:
    """One step; CPU of every part's process tree during it."""
    main, *others = pids
    settle(pids[main])
    for name in others:
        settle(pids[name])
    before = {name: tree_cpu(pid) for name, pid in pids.items() if name != main}
    s = step(setup, port, pids[main], scenario, rate, seconds)
    calls = max(1, s.ok + s.failed)
    cpu = {main: 1e6 * s.cpu / calls}
    for name, t0 in before.items():
        cpu[name] = 1e6 * (tree_cpu(pids[name]) - t0) / calls
    return Run(s.passed, s.ok + s.failed, s.failed, cpu)


def main(argv: list[str] | None = None) -> int:
    """Run every set-up, scenario and rate ``--repeat`` times; print the table."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rates", default="400,1600", help="calls/s (comma list)")
    p.add_argument("--scenarios", default="allowed,blocked")
    p.add_argument("--setups", default="kamailio,kamailio-tm,kamailio+redirect")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each step")
    p.add_argument("--repeat", type=int, default=3, help="steps per cell (median shown)")
    p.add_argument("--children", type=int, default=2, help="Kamailio's UDP children")
    p.add_argument("--quick", action="store_true", help="smoke run: 2 s, 50 cps, once")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.add_argument("--versions", action="store_true", help="print versions and exit")
    args = p.parse_args(argv)
    if args.versions:
        print(json.dumps(versions(), indent=2))
        return 0
    if shutil.which("sipp") is None:
        print("sipp not found (apt-get install sip-tester)", file=sys.stderr)
        return 2
    if shutil.which("kamailio") is None and not pathlib.Path("/usr/sbin/kamailio").exists():
        print("kamailio not found (apt-get install kamailio)", file=sys.stderr)
        return 2
    rates = [int(r) for r in args.rates.split(",") if r]
    seconds, repeat = args.seconds, args.repeat
    if args.quick:
        rates, seconds, repeat = [50], 2.0, 1
    results: list[Cell] = []
    with tempfile.TemporaryDirectory(prefix="sipredirect") as tmp:
        setup = prepare(pathlib.Path(tmp))
        for name in args.setups.split(","):
            with setup_of(setup, name, args.children) as (port, pids):
                time.sleep(0.5)
                for scenario in args.scenarios.split(","):
                    for rate in rates:
                        runs = []
                        for _ in range(repeat):
                            run = measure(setup, port, pids, scenario, rate, seconds)
                            runs.append(run)
                            print(f"{name:18} {scenario:8} {rate:5} cps: calls={run.calls} "
                                  f"failed={run.failed} {'pass' if run.passed else 'FAIL'} "
                                  + " ".join(f"{k}={v:.0f}us" for k, v in run.cpu_us.items()),
                                  file=sys.stderr, flush=True)  # fmt: skip
                        results.append(summary(name, scenario, rate, runs))
    if args.json:
        cells = [asdict(c) for c in results]
        print(json.dumps({"versions": versions(), "seconds": seconds, "results": cells}, indent=2))
        return 0
    print(table(results))
    return 0


@dataclass
class Cell:
    """The runs of one (set-up, scenario, rate): medians and spread."""

    setup: str
    scenario: str
    rate: int
    passed: bool
    """Every run held the rate."""
    failed_calls: int
    cpu_us_per_call: float
    """Median over the runs of the CPU per call of the whole set-up."""
    cpu_us_range: tuple[float, float]
    parts: dict[str, float]
    """Median CPU per call of each part (Kamailio, callpolicy)."""


def summary(name: str, scenario: str, rate: int, runs: list[Run]) -> Cell:
    """Medians of the runs of one cell, and their spread."""
    totals = [sum(r.cpu_us.values()) for r in runs]
    return Cell(
        name,
        scenario,
        rate,
        all(r.passed for r in runs),
        sum(r.failed for r in runs),
        round(statistics.median(totals), 1),
        (round(min(totals), 1), round(max(totals), 1)),
        {k: round(statistics.median(r.cpu_us[k] for r in runs), 1) for k in runs[0].cpu_us},
    )


def table(results: list[Cell]) -> str:
    """A Markdown table; the ratio to Kamailio alone at the same scenario and rate."""
    alone = {(c.scenario, c.rate): c for c in results if c.setup == "kamailio"}
    lines = [
        "| scenario | cps | set-up | held | CPU µs/call (median) | range | Kamailio "
        "| callpolicy | ÷ Kamailio alone |",
        "|---|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for c in results:
        base = alone.get((c.scenario, c.rate))
        ratio = "-"
        if base is not None and base is not c:
            ratio = f"{c.cpu_us_per_call / max(base.cpu_us_per_call, 0.1):.2f}×"
        held = "yes" if c.passed else f"no ({c.failed_calls} failed)"
        lo, hi = c.cpu_us_range
        lines.append(
            f"| {c.scenario} | {c.rate} | {c.setup} | {held} | {c.cpu_us_per_call} "
            f"| {lo}-{hi} | {c.parts.get('kamailio', '-')} | {c.parts.get('callpolicy', '-')} "
            f"| {ratio} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
