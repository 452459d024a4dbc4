"""Load on a real edge: sipp at a rate until told to stop, the admin listener, RSS.

Shared by the load tests (test_reload_under_load.py, test_overload.py) and the
benchmarks that do the long runs (benchmarks/reload_load.py, benchmarks/overload.py).
A load sipp runs without a call limit and stops on SIGUSR1: it places no new call,
lets the calls in progress end and exits 0 when none failed, so a run lasts as long as
the test's schedule needs and no call is cut short by the stop. Its output goes to a
file (a pipe nobody reads could fill up and stall it).
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from tests._procs import free_port

__all__ = [
    "BROKEN",
    "BROKEN_LINE",
    "EXTRA_BLOCK",
    "PROBE",
    "Load",
    "SippCounts",
    "ack_optional",
    "admin_ports",
    "health",
    "lift_dialer_limits",
    "load_args",
    "metric",
    "point",
    "releases",
    "revision",
    "rss_kb",
    "scrape",
    "second_release",
    "sipp_counts",
    "sipp_messages",
    "wait_until",
    "write_atomically",
]

SIPP = shutil.which("sipp")
#: Seconds a load sipp may take to end its calls in progress after SIGUSR1.
STOP_TIMEOUT = 60.0

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]

#: What turns a copy of the shipped rules into a second release: one operator block
#: (its own revision, and a number only it refuses: ``PROBE``).
EXTRA_BLOCK = (
    '\n[[block]]\nid = "reload-b"\nreason = "operator_block"\nprefixes = ["0309999"]\n'
    "liftable = false\n"
)
PROBE = "0309999123"
#: Appended to blocks.toml, a rule error: a letter O in a prefix.
BROKEN = '\n[[block]]\nid = "broken"\nreason = "operator_block"\nprefixes = ["09OO"]\n'
BROKEN_LINE = 'prefixes = ["09OO"]'


def ack_optional(xml: str) -> str:
    """A UAS scenario (uas_answer.xml, uas_slow.xml) that takes a BYE without the ACK
    before it. Past capacity the edge's socket overflows and the kernel drops datagrams;
    the caller resends a lost INVITE or BYE, but an ACK of a 2xx only when the 200 comes
    again, and the BYE may come first: the call was answered all the same."""
    strict = '<recv request="ACK" rtd="true" crlf="true"/>'
    assert strict in xml
    return xml.replace(strict, '<recv request="ACK" rtd="true" crlf="true" optional="true"/>')


def lift_dialer_limits(rules: pathlib.Path) -> None:
    """Let one account place every call of a load run (clause 7.2 limits out of the way)."""
    path = rules / "power_dialer.toml"
    text = re.sub(
        r"max_attempts_per_second = \d+", "max_attempts_per_second = 1000000", path.read_text()
    )
    text = re.sub(r"max_concurrent_setups = \d+", "max_concurrent_setups = 1000000", text)
    path.write_text(text)


def releases(rules: pathlib.Path) -> None:
    """Turn the rules directory ``rules`` into a deploy's layout: a release directory
    ``rules-a`` (its files) and ``rules``, a symlink to it (files written through the
    link land in rules-a)."""
    a = rules.with_name("rules-a")
    rules.rename(a)
    rules.symlink_to(a.name)


def second_release(link: pathlib.Path) -> None:
    """``rules-b`` beside the release ``link`` points to: a copy of it plus
    ``EXTRA_BLOCK`` (its own revision)."""
    b = link.with_name("rules-b")
    shutil.copytree(link.resolve(), b)
    blocks = b / "blocks.toml"
    blocks.write_text(blocks.read_text() + EXTRA_BLOCK)


def point(link: pathlib.Path, release: str) -> None:
    """Swap the symlink ``link`` to ``release`` atomically (a new link renamed over it)."""
    new = link.with_name(link.name + ".new")
    new.symlink_to(release)
    os.replace(new, link)


def write_atomically(path: pathlib.Path, text: str) -> None:
    """Replace ``path`` in one rename: a reload reads the old file or the new one."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def admin_ports(n: int) -> int:
    """The first of ``n`` consecutive TCP ports free on 127.0.0.1 (worker k's admin
    listener is ``port + k``)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            first = int(s.getsockname()[1])
        if first + n > 65535:
            continue
        held: list[socket.socket] = []
        try:
            for port in range(first, first + n):
                t = socket.socket()
                held.append(t)
                t.bind(("127.0.0.1", port))
        except OSError:
            continue
        finally:
            for t in held:
                t.close()
        return first


def _get(port: int, path: str) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return str(r.read().decode())


def wait_admin(ports: list[int], timeout: float = 20.0) -> None:
    """Until every worker's admin listener answers ``/ready`` (a worker opens it once its
    rules and accounts are loaded, which can trail the edge's first answer under load)."""
    deadline = time.monotonic() + timeout
    for port in ports:
        while True:
            try:
                _get(port, "/ready")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def scrape(port: int) -> Samples:
    """The samples of the admin listener's ``/metrics`` on ``port``."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(_get(port, "/metrics"))
        for s in family.samples
    }


def metric(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples ``name`` whose labels include ``labels`` (0 if none)."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= set(ls))


def revision(samples: Samples) -> str:
    """The revision of the rules a worker serves (``callpolicy_rules_info``)."""
    found = [dict(ls)["revision"] for (n, ls), _ in samples.items() if n == "callpolicy_rules_info"]
    assert len(found) == 1, found
    return found[0]


def health(port: int) -> dict[str, str]:
    """The admin listener's ``/health`` document."""
    doc = json.loads(_get(port, "/health"))
    assert isinstance(doc, dict)
    return doc


def rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` in kB (``VmRSS`` of /proc/<pid>/status)."""
    text = pathlib.Path(f"/proc/{pid}/status").read_text()
    m = re.search(r"^VmRSS:\s+(\d+) kB", text, re.M)
    assert m is not None, text
    return int(m.group(1))


@dataclass
class SippCounts:
    """A sipp run's totals, from the statistics screen it prints when it ends."""

    created: int
    ok: int
    failed: int


def sipp_counts(output: str) -> SippCounts:
    """The cumulative totals of sipp's final statistics screen in ``output``."""

    def stat(name: str) -> int:
        found = re.findall(rf"{name}\s*\|\s*(?:\d+\s*)?\|\s*(\d+)", output)
        return int(found[-1]) if found else -1

    return SippCounts(stat("Total Calls created"), stat("Successful call"), stat("Failed call"))


def sipp_messages(output: str) -> list[tuple[str, int]]:
    """The message rows of sipp's last scenario screen in ``output``: (message, count),
    in scenario order (``INVITE``, ``100``, ... as sent or received)."""
    screen = output[output.rfind("Messages  Retrans") :]
    rows = re.findall(
        r"^\s*(?:(\S+) -+>|(\S+) <-+|-+> (\S+)|<-+ (\S+))\s+(?:E-RTD\d\s+)?(\d+)", screen, re.M
    )
    return [(next(x for x in row[:4] if x), int(row[4])) for row in rows]


class Load:
    """One sipp process of a load run (a UAC placing calls or a UAS answering them)."""

    def __init__(self, args: list[str], cwd: pathlib.Path, name: str) -> None:
        """Start ``args`` in ``cwd``; its output goes to ``cwd/<name>.out``."""
        self.name = name
        self.out = cwd / f"{name}.out"
        with self.out.open("wb") as out:
            self.proc = subprocess.Popen(args, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)

    def stop(self) -> tuple[int, SippCounts]:
        """Place no new call, let the calls in progress end; (exit status, totals)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.returncode, sipp_counts(self.text())

    def kill(self) -> None:
        """End it now (cleanup after a failure)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def text(self) -> str:
        """What it printed so far."""
        return self.out.read_text(errors="replace")

    def tail(self) -> str:
        """The end of its output, for an assertion message."""
        return self.text()[-3000:]


def wait_until(what: Callable[[], object], timeout: float = 30.0, every: float = 0.05) -> None:
    """Poll ``what()`` until it is true; fail after ``timeout`` seconds (a bound, not a
    figure)."""
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s: {what}")
        time.sleep(every)


def load_args(xml: str, ip: str, port: int, rate: int, *extra: str) -> list[str]:
    """A sipp on ``ip:port`` running scenario ``xml`` at ``rate`` calls/s (0: a UAS)
    until SIGUSR1; ``-timeout`` only bounds a run the test forgot to stop. Socket
    buffers of 4 MB (as the edge's): sipp's default 64 kB drops datagrams whenever the
    machine keeps it from reading for a few ms at these rates (the kernel's
    RcvbufErrors), which fails calls that have nothing to do with the edge."""
    assert SIPP is not None
    args = [SIPP, "-sf", xml, "-i", ip, "-p", str(port), "-nostdin", "-timeout", "600s",
            "-recv_timeout", "10000", "-mp", str(free_port(ip)), "-max_socket", "5000",
            "-buff_size", str(4 * 2**20)]  # fmt: skip
    if rate:
        args += ["-r", str(rate), "-l", str(max(100, rate * 10))]
    return args + list(extra)
