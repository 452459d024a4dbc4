"""sip_edge/config.py: the shipped config loads; mistakes name their key."""

from __future__ import annotations

import pathlib

import pytest

from sip_edge.config import ConfigError, load_config

from .conftest import ROOT

GOOD = """
psap = "127.0.0.1:5090"
[listen]
host = "127.0.0.1"
port = 5060
[[trunk]]
address = "127.0.0.2"
account = "acme"
"""


def write(tmp_path: pathlib.Path, text: str) -> str:
    path = tmp_path / "edge.toml"
    path.write_text(text)
    return str(path)


def test_shipped_config_loads() -> None:
    config = load_config(str(ROOT / "config" / "edge.toml"))
    assert config.mode == "proxy"
    assert config.psap_address() == ("127.0.0.1", 5090)
    assert config.trunk_addresses() == {("127.0.0.2", None): "demo"}


def test_tcp_defaults_and_off(tmp_path: pathlib.Path) -> None:
    listen = load_config(write(tmp_path, GOOD)).listen
    assert (listen.tcp, listen.max_tcp_connections, listen.tcp_idle_timeout) == (True, 1024, 300)
    off = load_config(write(tmp_path, GOOD.replace("port = 5060", "port = 5060\ntcp = false")))
    assert off.listen.tcp is False


def test_mode_proxy_by_default_or_redirect(tmp_path: pathlib.Path) -> None:
    assert load_config(write(tmp_path, GOOD)).mode == "proxy"
    assert load_config(write(tmp_path, 'mode = "redirect"\n' + GOOD)).mode == "redirect"


def test_trunk_with_port(tmp_path: pathlib.Path) -> None:
    config = load_config(write(tmp_path, GOOD.replace('"127.0.0.2"', '"127.0.0.2:5061"')))
    assert config.trunk_addresses() == {("127.0.0.2", 5061): "acme"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('"127.0.0.2"', '"pbx.example"'), r"trunk\[0\]\.address: expected ip or ip:port"),
        (('psap = "127.0.0.1:5090"', 'psap = "127.0.0.1"'), r"psap: expected ip:port"),
        (("port = 5060", "port = 70000"), r"listen\.port: expected 0-65535"),
        (("port = 5060", 'port = "x"'), r"listen\.port: Expected `int`, got `str`"),
        (
            ('host = "127.0.0.1"', 'hots = "127.0.0.1"'),
            r"listen: Object contains unknown field `hots`",
        ),
        (
            ('psap = "127.0.0.1:5090"', 'mode = "redirector"\npsap = "127.0.0.1:5090"'),
            r"mode: expected \"proxy\" or \"redirect\", got 'redirector'$",
        ),
        (('psap = "127.0.0.1:5090"', 'mode = 1\npsap = "127.0.0.1:5090"'), r"mode: Expected `str`"),
        (('host = "127.0.0.1"', 'host = "localhost"'), r"listen\.host: expected an IP address"),
        (('account = "acme"', 'account = ""'), r"trunk\[0\]\.account: expected an account id"),
        (("port = 5060", "port = 5060\ntcp = 1"), r"listen\.tcp: Expected `bool`, got `int`"),
        (
            ("port = 5060", "port = 5060\nmax_tcp_connections = 0"),
            r"listen\.max_tcp_connections: expected 1-1000000, got 0",
        ),
        (
            ("port = 5060", "port = 5060\ntcp_idle_timeout = 0"),
            r"listen\.tcp_idle_timeout: expected seconds above 0",
        ),
        (
            ('psap = "127.0.0.1:5090"', 'data_plane_pause_ms = 11\npsap = "127.0.0.1:5090"'),
            r"data_plane_pause_ms: expected 0 to 10 milliseconds, got 11",
        ),
        (
            ('psap = "127.0.0.1:5090"', 'data_plane_pause_ms = nan\npsap = "127.0.0.1:5090"'),
            r"data_plane_pause_ms: expected 0 to 10 milliseconds, got nan",
        ),
        (
            ("port = 5060", "port = 5060\ntcp_idle_timeout = nan"),
            r"listen\.tcp_idle_timeout: expected seconds above 0",
        ),
    ],
)
def test_mistakes_name_the_key(
    tmp_path: pathlib.Path, change: tuple[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=r"^edge config: " + message):
        load_config(write(tmp_path, GOOD.replace(*change)))


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        (
            "max_in_flight = 5000\nmax_transactions = 5500\nemergency_reserve = 1000",
            r"limits\.max_transactions: expected at least 6000, got 5500",
        ),
        ("emergency_reserve = 0", r"limits\.emergency_reserve: expected at least 1, got 0"),
    ],
)
def test_the_emergency_reserve_fits_beside_max_in_flight(
    tmp_path: pathlib.Path, limits: str, message: str
) -> None:
    """Clause 9.3: calls in set-up other than 110/112 must never hold the reserve."""
    with pytest.raises(ConfigError, match=r"^edge config: " + message):
        load_config(write(tmp_path, f"{GOOD}[limits]\n{limits}\n"))
    config = load_config(write(tmp_path, f"{GOOD}[limits]\nmax_transactions = 6000\n"))
    assert config.limits.emergency_reserve == 1000


def test_duplicate_trunk(tmp_path: pathlib.Path) -> None:
    text = GOOD + '[[trunk]]\naddress = "127.0.0.2"\naccount = "other"\n'
    with pytest.raises(
        ConfigError, match=r"trunk\[1\]\.address: '127.0.0.2' is already trunk\[0\]"
    ):
        load_config(write(tmp_path, text))


def test_missing_file(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ConfigError, match=r"^edge config: file: cannot read"):
        load_config(str(tmp_path / "nope.toml"))
