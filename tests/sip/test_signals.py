"""A real ``python -m sip_edge``: SIGHUP reloads, SIGTERM drains, counters in the log.

The edge runs as in test_sipp.py (a private copy of the rules, carriers on free ports);
plain UDP sockets play the trunk (127.0.0.2) and the carrier, so a test decides when the
carrier answers. Waits are bounded by deadlines; nothing asserts a duration.
"""

from __future__ import annotations

import json
import pathlib
import signal
import socket
import time
from collections.abc import Callable, Iterator

import pytest

from sip_edge.config import ConfigError, load_config
from sip_edge.wire.message import Message, parse_message

from .conftest import ROOT, invite, ping, response_to
from .test_sipp import Edge, _start_edge

WAIT = 30.0
#: Tables appended to the edge's config by _start_edge (after its [listen] table).
OPS = "[logging]\nstats_interval = {stats}\n[shutdown]\ndrain_timeout = {drain}\n"
BLOCK_030555 = (
    '\n[[block]]\nid = "hup-test"\nreason = "operator_block"\nprefixes = ["030555"]\n'
    "liftable = false\n"
)


def _edge(tmp_path: pathlib.Path, stats: float = 0, drain: float = 60) -> Iterator[Edge]:
    yield from _start_edge(tmp_path / "edge", 1, OPS.format(stats=stats, drain=drain))


@pytest.fixture
def edge(tmp_path: pathlib.Path) -> Iterator[Edge]:
    (tmp_path / "edge").mkdir()
    yield from _edge(tmp_path)


def events(edge: Edge) -> list[dict[str, object]]:
    """The edge's log so far, one JSON object per line (every line must be one)."""
    lines = (edge.dir / "edge.log").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def wait_for(edge: Edge, what: Callable[[dict[str, object]], bool]) -> dict[str, object]:
    """The first log event matching ``what``, waiting for it (bounded)."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        found = [e for e in events(edge) if what(e)]
        if found:
            return found[0]
        assert edge.proc.poll() is None, f"edge exited {edge.proc.returncode}: {events(edge)}"
        time.sleep(0.05)
    raise AssertionError(f"no such log event: {events(edge)}")


def msg_is(text: str) -> Callable[[dict[str, object]], bool]:
    return lambda e: text in str(e["msg"])


def udp(host: str, port: int = 0) -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, port))
    s.settimeout(WAIT)
    return s


def final_for(sock: socket.socket, call_id: str) -> Message:
    """The first final response to ``call_id`` arriving on ``sock`` (provisionals skipped)."""
    while True:
        m = parse_message(sock.recv(65535))
        if m.status and m.status >= 200 and m.get("call-id") == call_id:
            return m


def test_sighup_reloads_the_rules_and_a_broken_reload_keeps_them(edge: Edge) -> None:
    wait_for(edge, msg_is("listening on"))
    blocks = edge.dir / "rules" / "blocks.toml"
    good = blocks.read_text()
    blocks.write_text(
        good + '\n[[block]]\nid = "x"\nreason = "operator_block"\nprefixes = ["09OO"]\n'
    )

    edge.proc.send_signal(signal.SIGHUP)

    failed = wait_for(edge, lambda e: e.get("event") == "reload" and e.get("ok") is False)
    errors = failed["errors"]
    assert isinstance(errors, list)
    assert any(f"{blocks}:" in str(e) and "09OO" in str(e) for e in errors), errors
    assert ping(edge.port, 2.0)  # alive, on the old rules
    trunk = udp("127.0.0.2")
    trunk.sendto(invite("+4930555000", call_id="hup-before@x"), ("127.0.0.1", edge.port))
    carrier = udp("127.0.0.1", edge.carrier_de)
    assert parse_message(carrier.recv(65535)).method == "INVITE"  # allowed: forwarded

    blocks.write_text(good + BLOCK_030555)
    edge.proc.send_signal(signal.SIGHUP)

    wait_for(edge, lambda e: e.get("event") == "reload" and e.get("ok") is True)
    wait_for(edge, msg_is("accounts re-read (SIGHUP)"))
    trunk.sendto(invite("+4930555000", call_id="hup-after@x"), ("127.0.0.1", edge.port))
    assert final_for(trunk, "hup-after@x").status == 403
    trunk.close()
    carrier.close()


def test_sigterm_sheds_new_calls_and_waits_for_the_call_in_set_up(edge: Edge) -> None:
    wait_for(edge, msg_is("listening on"))
    trunk, carrier = udp("127.0.0.2"), udp("127.0.0.1", edge.carrier_de)
    trunk.sendto(invite("+4930555000", call_id="early@x"), ("127.0.0.1", edge.port))
    forwarded = parse_message(carrier.recv(65535))
    assert forwarded.method == "INVITE"

    edge.proc.send_signal(signal.SIGTERM)

    wait_for(edge, msg_is("1 calls in set-up"))
    trunk.sendto(invite("+4930555000", call_id="late@x"), ("127.0.0.1", edge.port))
    shed = final_for(trunk, "late@x")
    assert shed.status == 503
    assert shed.get("retry-after")
    assert edge.proc.poll() is None  # still waiting for the early call
    carrier.sendto(response_to(forwarded, 200, "OK"), ("127.0.0.1", edge.port))
    assert final_for(trunk, "early@x").status == 200
    assert edge.proc.wait(WAIT) == 0
    stopped = [e for e in events(edge) if e["msg"] == "sip_edge worker 0 stopped"]
    assert stopped
    assert stopped[0]["in_flight"] == 0
    trunk.close()
    carrier.close()


def test_sigterm_gives_up_on_unanswered_calls_after_the_drain_timeout(
    tmp_path: pathlib.Path,
) -> None:
    (tmp_path / "edge").mkdir()
    for edge in _edge(tmp_path, drain=0.5):
        wait_for(edge, msg_is("listening on"))
        trunk, carrier = udp("127.0.0.2"), udp("127.0.0.1", edge.carrier_de)
        trunk.sendto(invite("+4930555000", call_id="never@x"), ("127.0.0.1", edge.port))
        assert parse_message(carrier.recv(65535)).method == "INVITE"  # and no answer, ever

        edge.proc.send_signal(signal.SIGTERM)

        assert edge.proc.wait(WAIT) == 0
        assert any("stopping with 1 calls in set-up" in str(e["msg"]) for e in events(edge))
        trunk.close()
        carrier.close()


def test_counters_are_logged_periodically(tmp_path: pathlib.Path) -> None:
    (tmp_path / "edge").mkdir()
    for edge in _edge(tmp_path, stats=0.1):
        assert ping(edge.port, 2.0)
        line = wait_for(
            edge,
            lambda e: (
                e.get("event") == "counters"
                and isinstance(e.get("counters"), dict)
                and e["counters"].get("options", 0) >= 1
            ),
        )
        assert line["msg"] == "sip_edge worker 0 counters"
        assert line["in_flight"] == 0


# --- the settings of this file's behaviour (config/edge.toml [logging], [shutdown]) -----


def test_ops_settings_default_and_ship() -> None:
    shipped = load_config(str(ROOT / "config" / "edge.toml"))
    assert (shipped.logging.stats_interval, shipped.shutdown.drain_timeout) == (60.0, 32.0)


@pytest.mark.parametrize(
    ("table", "value", "message"),
    [
        ("[logging]\nstats_interval", "-1", "logging.stats_interval: expected seconds from 0 to"),
        ("[logging]\nstats_interval", "nan", "logging.stats_interval: expected seconds from 0 to"),
        ("[shutdown]\ndrain_timeout", "7200", "shutdown.drain_timeout: expected seconds from 0"),
        ("[shutdown]\ndrain", "1", "Object contains unknown field `drain`"),
    ],
)
def test_ops_settings_name_the_wrong_key(
    table: str, value: str, message: str, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "edge.toml"
    path.write_text(f'psap = "127.0.0.1:5090"\n{table} = {value}\n')
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        load_config(str(path))


def test_the_first_process_passes_sighup_and_sigterm_on_to_the_workers(
    tmp_path: pathlib.Path,
) -> None:
    (tmp_path / "edge").mkdir()
    for edge in _start_edge(tmp_path / "edge", 2, OPS.format(stats=0, drain=60)):
        wait_for(edge, msg_is("worker 1 listening on"))

        edge.proc.send_signal(signal.SIGHUP)

        for worker in (0, 1):
            wait_for(edge, msg_is(f"worker {worker}: rules reloaded (SIGHUP)"))
        edge.proc.send_signal(signal.SIGTERM)
        assert edge.proc.wait(WAIT) == 0
        stopped = {e["msg"] for e in events(edge) if e.get("event") == "counters"}
        assert stopped == {"sip_edge worker 0 stopped", "sip_edge worker 1 stopped"}
