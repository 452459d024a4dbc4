"""`make run`'s set-up: an allowed call through the edge is answered by the dev carrier.

Built as scripts/run.sh builds it (the demo account from scripts/seed_demo.py, the
shipped config/edge.toml, the shipped rules, scripts/dev_carrier.py at the addresses of
rules/carriers.toml and the PSAP), on free ports instead of 5060/5070/5072/5090 so it
runs beside other tests. A sipp UAC on the demo trunk (127.0.0.2) places the calls; it
fails unless each is answered 200 and its BYE too.
"""

from __future__ import annotations

import pathlib
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests._procs import free_port, stop
from tests.sip.conftest import ping
from tests.sip.test_sipp import SIPP, START_TIMEOUT, Edge, call

ROOT = pathlib.Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(SIPP is None, reason="sipp binary not found (sip-tester)")


def _wait_for(path: pathlib.Path, text: str, count: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while path.read_text().count(text) < count:
        assert proc.poll() is None, f"exited {proc.returncode}:\n{path.read_text()}"
        assert time.monotonic() < deadline, f"no {count}x {text!r}:\n{path.read_text()}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Edge]:
    d = tmp_path_factory.mktemp("dev")
    port, de, intl, psap = (free_port() for _ in range(4))
    rules = d / "rules"
    rules.mkdir()
    for f in (ROOT / "rules").glob("*.toml"):
        shutil.copy(f, rules / f.name)
    carriers = (ROOT / "rules" / "carriers.toml").read_text()
    assert "127.0.0.1:5070" in carriers and "127.0.0.1:5072" in carriers
    carriers = carriers.replace(":5070", f":{de}").replace(":5072", f":{intl}")
    (rules / "carriers.toml").write_text(carriers)
    config = (ROOT / "config" / "edge.toml").read_text()
    assert "\nport = 5060\n" in config and 'psap = "127.0.0.1:5090"' in config
    config = config.replace("\nport = 5060\n", f"\nport = {port}\n")
    config = config.replace("port = 9060", f"port = {free_port()}")  # the admin listener
    config = config.replace('"var/decisions-edge.jsonl"', f'"{d / "decisions.jsonl"}"')
    (d / "edge.toml").write_text(config.replace(":5090", f":{psap}"))
    store = f"sqlite:///{d / 'state.db'}"
    py = sys.executable
    subprocess.run([py, "scripts/seed_demo.py", store, str(rules)], cwd=ROOT, check=True)

    carrier_log = d / "carrier.log"
    with carrier_log.open("wb") as out:
        carrier = subprocess.Popen(
            [py, "scripts/dev_carrier.py", "--rules", str(rules), "--config", str(d / "edge.toml")],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    with (d / "edge.log").open("wb") as out:
        cmd = [py, "-m", "sip_edge", "--config", str(d / "edge.toml"), "--rules", str(rules)]
        edge = subprocess.Popen([*cmd, "--store", store], cwd=ROOT, stdout=out, stderr=out)
    try:
        _wait_for(carrier_log, "dev carrier answering on udp", 3, carrier)
        deadline = time.monotonic() + START_TIMEOUT
        while not ping(port, 0.2):
            assert edge.poll() is None, (d / "edge.log").read_text()
            assert time.monotonic() < deadline, (d / "edge.log").read_text()
        yield Edge(d, port, de, intl, psap, edge)
    finally:
        stop(edge, 10)
        stop(carrier, 10)


@pytest.mark.parametrize(
    "service",
    ["030555000", "+4930555000", "00442079460000", "112"],
    ids=["carrier-de", "carrier-de-e164", "carrier-intl", "psap"],
)
def test_an_allowed_call_is_answered_by_the_dev_carrier(dev: Edge, service: str) -> None:
    rc, out = call(dev, service, "+4930123450")  # an active number of the demo account

    assert rc == 0, f"the call to {service} did not complete:\n{out}"
    log = (dev.dir / "carrier.log").read_text()
    assert " -> SIP/2.0 200 OK" in log, log


def test_the_dev_carrier_listens_only_on_loopback(tmp_path: pathlib.Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    port = free_port()
    (rules / "carriers.toml").write_text(
        f'[[carrier]]\naddress = "192.0.2.1:5060"\n[[carrier]]\naddress = "127.0.0.1:{port}"\n'
    )
    out = tmp_path / "carrier.log"
    with out.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "scripts/dev_carrier.py", "--rules", str(rules)],
            cwd=ROOT,
            stdout=fh,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for(out, "dev carrier answering on udp", 1, proc)
        text = out.read_text()
        assert "192.0.2.1:5060 is not a loopback address: skipped" in text
        assert f"answering on udp 127.0.0.1:{port}" in text
    finally:
        assert stop(proc, 10) == 0
