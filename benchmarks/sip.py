"""SIP edge vs Kamailio under sipp: highest call rate held and CPU time per call.

    python benchmarks/sip.py [--quick] [--json] [--versions] [--workers N]
                             [--proxies edge,kamailio,bare] [--scenarios blocked,allowed,half]
                             [--cpu-rates 400,3200] [--no-search]

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

The edge runs with a copy of ``rules/`` whose power-dialer limits are lifted (one
account places every call) and whose carriers point at the UAS. Nothing here asserts a
timing; ``--quick`` is a smoke run (short steps, few rates).
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from policy import Account, Holding, Site  # noqa: E402
from policy.state.store import SqliteStore  # noqa: E402
from tests._procs import free_port  # noqa: E402
from tests.sip.conftest import ping  # noqa: E402

SCENARIOS = ROOT / "tests" / "sip" / "scenarios"
KAMAILIO_CFG = ROOT / "benchmarks" / "peers" / "kamailio.cfg"
BARE = ROOT / "benchmarks" / "peers" / "bare_responder.py"
NUMBERS = {
    "blocked": ["09001234567", "09005123456", "012345678", "0181234567"],
    "allowed": ["+4930555000", "030555001", "+4989123456", "0301234567"],
}
TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """utime+stime in seconds of ``pid`` and all its descendants (from /proc)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        parents[int(entry)] = int(fields[1])
        times[int(entry)] = (int(fields[11]) + int(fields[12])) / TICK
    tree = {pid}
    changed = True
    while changed:
        changed = False
        for child, parent in parents.items():
            if parent in tree and child not in tree:
                tree.add(child)
                changed = True
    return sum(times.get(p, 0.0) for p in tree)


@dataclass
class Setup:
    """Files shared by every run."""

    dir: pathlib.Path
    carrier_port: int
    uac_xml: pathlib.Path
    uas_xml: pathlib.Path


def prepare(work: pathlib.Path) -> Setup:
    """Rules copy (carrier -> UAS port, limits lifted), store, sipp scenario files."""
    carrier = free_port()
    rules = work / "rules"
    rules.mkdir()
    for f in (ROOT / "rules").glob("*.toml"):
        shutil.copy(f, rules / f.name)
    path = rules / "carriers.toml"
    text = re.sub(
        r'address = "127\.0\.0\.1:\d+"', f'address = "127.0.0.1:{carrier}"', path.read_text()
    )
    path.write_text(text)
    path = rules / "power_dialer.toml"
    text = re.sub(
        r"max_attempts_per_second = \d+", "max_attempts_per_second = 1000000", path.read_text()
    )
    text = re.sub(r"max_concurrent_setups = \d+", "max_concurrent_setups = 1000000", text)
    path.write_text(text)
    store = SqliteStore(str(work / "state.db"))
    site = Site(address="Benchstr. 1, 10117 Berlin", municipality="11000000", area_code="30",
                emergency_area="test-berlin-mitte")  # fmt: skip
    npn = Holding(id="npn", first="493012345000", last="493012345000", state="active",
                  area_code="30", activated_at=0.0)  # fmt: skip
    bench = Account(id="bench", npn="493012345000", holdings=(npn,), site=site)
    store.create_account(bench, time.time())
    store.close()
    uac = (SCENARIOS / "uac_burst.xml").read_text().replace("[service]", "[field0]")
    uas = (
        (SCENARIOS / "uas_answer.xml")
        .read_text()
        .replace(
            "{{CHECKS}}", '<ereg regexp="^INVITE" search_in="msg" check_it="true" assign_to="c"/>'
        )
    )
    (work / "uac.xml").write_text(uac)
    (work / "uas.xml").write_text(uas)
    for name, numbers in (
        ("blocked", NUMBERS["blocked"]),
        ("allowed", NUMBERS["allowed"]),
        (
            "half",
            [n for pair in zip(NUMBERS["blocked"], NUMBERS["allowed"], strict=True) for n in pair],
        ),
    ):
        (work / f"{name}.csv").write_text("SEQUENTIAL\n" + "".join(f"{n};\n" for n in numbers))
    return Setup(work, carrier, work / "uac.xml", work / "uas.xml")


@contextmanager
def run_edge(setup: Setup, workers: int) -> Iterator[tuple[int, int]]:
    """``python -m sip_edge``; yields (port, pid)."""
    port = free_port()
    cfg = setup.dir / "edge.toml"
    cfg.write_text(
        f'psap = "127.0.0.1:{free_port()}"\n[listen]\nhost = "127.0.0.1"\nport = {port}\n'
        f"workers = {workers}\n[limits]\nmax_in_flight = 20000\nmax_transactions = 200000\n"
        '[[trunk]]\naddress = "127.0.0.2"\naccount = "bench"\n'
    )
    cmd = [sys.executable, "-m", "sip_edge", "--config", str(cfg), "--rules",
           str(setup.dir / "rules"), "--store", f"sqlite:///{setup.dir / 'state.db'}"]  # fmt: skip
    with open(setup.dir / "edge.log", "ab") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(port, proc, pathlib.Path(log.name))
            time.sleep(0.5 * workers)  # the other workers bind after the first
            yield port, proc.pid
        finally:
            proc.terminate()
            proc.wait(timeout=20)


@contextmanager
def run_kamailio(setup: Setup, children: int) -> Iterator[tuple[int, int]]:
    """Kamailio with benchmarks/peers/kamailio.cfg; yields (port, pid)."""
    port = free_port()
    kam = shutil.which("kamailio") or "/usr/sbin/kamailio"
    cmd = [kam, "-f", str(KAMAILIO_CFG), "-DD", "-E", "-Y", str(setup.dir), "-w", str(setup.dir),
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


RUNNERS = {"edge": run_edge, "kamailio": run_kamailio, "bare": run_bare}


def _wait_ready(port: int, proc: subprocess.Popen[bytes], log: pathlib.Path) -> None:
    """Until the proxy answers OPTIONS; else stop the run with the end of its log (the
    work directory, and the log in it, are deleted on exit)."""
    deadline = time.monotonic() + 30
    while not ping(port):
        if proc.poll() is not None or time.monotonic() > deadline:
            state = "exited" if proc.poll() is not None else "did not answer OPTIONS in 30 s"
            tail = log.read_text(errors="replace")[-2000:]
            raise SystemExit(f"{log.stem} on 127.0.0.1:{port} {state}; the end of its log:\n{tail}")


@dataclass
class Step:
    """One sipp run at one rate."""

    rate: int
    seconds: float
    created: int
    ok: int
    failed: int
    elapsed: float
    cpu: float
    """Seconds of proxy CPU (all processes) during the step."""

    @property
    def passed(self) -> bool:
        """Every call created, fewer than 1% failed, and the run did not lag behind."""
        total = self.ok + self.failed
        return (
            self.created >= self.rate * self.seconds
            and total > 0
            and self.failed < 0.01 * total
            # Calls created on time end within 2 s; a failed call may add sipp's 4 s
            # receive timeout to the tail without the rate having lagged.
            and self.elapsed <= self.seconds + (6 if self.failed else 2)
        )

    @property
    def cpu_per_call_us(self) -> float:
        """Microseconds of proxy CPU per call."""
        return 1e6 * self.cpu / max(1, self.ok + self.failed)


def _stat(text: str, name: str) -> int:
    m = re.search(rf"{name}\s*\|\s*(?:\d+\s*)?\|\s*(\d+)", text)
    return int(m.group(1)) if m else 0


def step(setup: Setup, port: int, pid: int, scenario: str, rate: int, seconds: float) -> Step:
    """Run sipp at ``rate`` calls/s for ``seconds`` through the proxy on ``port``."""
    sipp = shutil.which("sipp") or "sipp"
    uas_cmd = [sipp, "-sf", str(setup.uas_xml), "-i", "127.0.0.1",
               "-p", str(setup.carrier_port), "-nostdin", "-mp", str(free_port()),
               "-timeout", f"{int(seconds) + 40}s"]  # fmt: skip
    uas = subprocess.Popen(
        uas_cmd, cwd=setup.dir, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        time.sleep(0.3)
        calls = int(rate * seconds)
        uac_cmd = [sipp, f"127.0.0.1:{port}", "-sf", str(setup.uac_xml),
                   "-inf", str(setup.dir / f"{scenario}.csv"), "-t", "un",
                   "-i", "127.0.0.2", "-p", str(free_port("127.0.0.2")),
                   "-r", str(rate), "-m", str(calls), "-l", str(max(100, rate * 10)),
                   "-recv_timeout", "4000", "-timeout", f"{int(seconds) + 30}s",
                   "-nostdin", "-mp", str(free_port("127.0.0.2")), "-key", "from", "+493012345000",
                   "-max_socket", "10000"]  # fmt: skip
        cpu0 = tree_cpu(pid)
        t0 = time.monotonic()
        done = subprocess.run(
            uac_cmd, cwd=setup.dir, capture_output=True, timeout=seconds + 90, check=False
        )
        elapsed = time.monotonic() - t0
        cpu = tree_cpu(pid) - cpu0
    finally:
        uas.terminate()
        uas.wait(timeout=20)
    out = done.stdout.decode(errors="replace")
    created = _stat(out, "Total Calls created")
    return Step(rate, seconds, created, _stat(out, "Successful call"), _stat(out, "Failed call"),
                elapsed, cpu)  # fmt: skip


def settle(pid: int, limit: float = 60.0) -> None:
    """Wait until the proxy is idle (under 2% of a core for a second), at most ``limit`` s."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        before = tree_cpu(pid)
        time.sleep(1.0)
        if tree_cpu(pid) - before < 0.02:
            return


def highest_rate(
    setup: Setup, port: int, pid: int, scenario: str, start: int, seconds: float, cap: int
) -> tuple[Step | None, list[Step]]:
    """Double the rate until a step fails, then bisect once; the best passing step."""
    steps: list[Step] = []
    best: Step | None = None
    rate = start
    while rate <= cap:
        s = step(setup, port, pid, scenario, rate, seconds)
        steps.append(s)
        print(f"    {scenario:8} {rate:6} cps: ok={s.ok} failed={s.failed} "
              f"elapsed={s.elapsed:.1f}s cpu={s.cpu_per_call_us:.0f}us/call "
              f"{'pass' if s.passed else 'FAIL'}", file=sys.stderr, flush=True)  # fmt: skip
        if not s.passed:
            break
        best = s
        rate *= 2
        settle(pid)
    if best is not None and steps[-1] is not best:
        settle(pid)
        mid = (best.rate + steps[-1].rate) // 2
        s = step(setup, port, pid, scenario, mid, seconds)
        steps.append(s)
        print(f"    {scenario:8} {mid:6} cps: ok={s.ok} failed={s.failed} "
              f"{'pass' if s.passed else 'FAIL'}", file=sys.stderr, flush=True)  # fmt: skip
        if s.passed:
            best = s
    return best, steps


def versions() -> dict[str, str]:
    """Versions of what was measured."""

    def first_line(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, check=False, timeout=10)
        except OSError:
            return "missing"
        text = (out.stdout or out.stderr).decode(errors="replace").strip().splitlines()
        return next((line.strip() for line in text if line.strip()), "")

    return {
        "python": sys.version.split()[0],
        "sipp": first_line(["sipp", "-v"]),
        "kamailio": first_line(["kamailio", "-v"]),
        "cpus": str(os.cpu_count()),
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
        "kamailio" in proxies
        and shutil.which("kamailio") is None
        and not os.path.exists("/usr/sbin/kamailio")
    ):
        print("kamailio not found: measuring the others only", file=sys.stderr)
        proxies.remove("kamailio")
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
    """A Markdown table; the edge/Kamailio CPU ratio per common rate."""
    kam = {r["scenario"]: r for r in results if r["proxy"] == "kamailio"}
    head = [f"scenario | proxy | highest rate held (cps, <1% failed, {seconds:g} s) "
            "| CPU µs/call at that rate"]  # fmt: skip
    head += [f"CPU µs/call at {rate} cps | ÷ Kamailio" for rate in cpu_rates]
    lines = ["| " + " | ".join(head) + " |", "|---|---|---:|---:|" + "---:|---:|" * len(cpu_rates)]
    for r in results:
        at_max = r["cpu_us_per_call_at_max"]
        cells = [str(r["scenario"]), str(r["proxy"]), str(r["max_rate"] or "-"),
                 str(at_max if at_max is not None else "-")]  # fmt: skip
        common = r["common"]
        assert isinstance(common, dict)
        for rate in cpu_rates:
            c = common[str(rate)]
            cells.append(f"{c['cpu_us_per_call']}{'' if c['passed'] else ' (failed calls)'}")
            other = kam.get(r["scenario"])
            ratio = "-"
            if other is not None and r["proxy"] != "kamailio":
                theirs = other["common"][str(rate)]["cpu_us_per_call"]  # type: ignore[index]
                ratio = f"{c['cpu_us_per_call'] / max(theirs, 0.1):.2f}×"
            cells.append(ratio)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
