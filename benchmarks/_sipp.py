"""What the SIP benchmarks share: the edge as a process, sipp steps, CPU from /proc.

``benchmarks/sip.py`` (highest rate, CPU per call, against Kamailio; metrics on/off),
``benchmarks/reload_load.py`` (SIGHUP reloads under load) and ``benchmarks/overload.py``
(twice the highest rate, 110/112 mixed in) build on these. Not a benchmark itself.
"""

from __future__ import annotations

import os
import pathlib
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from policy import Account, Holding, Site  # noqa: E402
from policy.state.store import SqliteStore  # noqa: E402
from tests._procs import free_port  # noqa: E402
from tests.sip.conftest import ping  # noqa: E402

__all__ = [
    "BENCH_LIMITS",
    "NUMBERS",
    "ROOT",
    "SCENARIOS",
    "Setup",
    "Step",
    "free_port",
    "highest_rate",
    "ping",
    "prepare",
    "quiesce",
    "run_edge",
    "settle",
    "step",
    "tree_cpu",
    "versions",
]

SCENARIOS = ROOT / "tests" / "sip" / "scenarios"
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


#: The edge's [limits] in the benchmarks: room for every call of a step at the highest
#: rates tried, so a step measures the proxy rather than its admission limits.
BENCH_LIMITS = "max_in_flight = 20000\nmax_transactions = 200000\n"


@contextmanager
def run_edge(
    setup: Setup,
    workers: int,
    *,
    limits: str = BENCH_LIMITS,
    admin: int = 0,
    psap: int = 0,
    rules: pathlib.Path | None = None,
    name: str = "edge",
    top: str = "",
) -> Iterator[tuple[int, int]]:
    """``python -m sip_edge``; yields (port, pid).

    ``limits``: the [limits] table's lines; ``admin``: the admin listener's first port
    (0: none); ``psap``: where 110/112 go (default: a port nobody listens on);
    ``rules``: the rules directory (default: the setup's copy); ``name``: of its config,
    log and decision log in the work directory (several edges may run at once); ``top``:
    top-level config lines (e.g. ``data_plane = "python"``).
    """
    port = free_port()
    cfg = setup.dir / f"{name}.toml"
    cfg.write_text(
        f'{top}psap = "127.0.0.1:{psap or free_port()}"\n[listen]\nhost = "127.0.0.1"\n'
        f"port = {port}\nworkers = {workers}\n[limits]\n{limits}[admin]\nport = {admin}\n"
        f'[decision_log]\npath = "{setup.dir / f"{name}-decisions.jsonl"}"\n'
        '[[trunk]]\naddress = "127.0.0.2"\naccount = "bench"\n'
    )
    cmd = [sys.executable, "-m", "sip_edge", "--config", str(cfg),
           "--rules", str(rules or setup.dir / "rules"),
           "--store", f"sqlite:///{setup.dir / 'state.db'}"]  # fmt: skip
    with open(setup.dir / f"{name}.log", "ab") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(port, proc, pathlib.Path(log.name))
            time.sleep(0.5 * workers)  # the other workers bind after the first
            yield port, proc.pid
        finally:
            proc.terminate()
            proc.wait(timeout=40)


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


#: 64*T1 (RFC 3261 Timer B/F): the longest a transaction of the edge outlives its call.
TRANSACTIONS_END = 32.0


def quiesce(pid: int) -> None:
    """After steps past capacity: settle, then wait until every transaction they left has
    ended (a CANCEL to a carrier whose UAS is gone is resent for 64*T1, and would reach
    the next step's UAS on the same port as a call of its own)."""
    settle(pid)
    time.sleep(TRANSACTIONS_END)


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
