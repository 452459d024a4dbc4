"""Configuration is checked at boot and names the wrong key (server/config.py, app.py)."""

from __future__ import annotations

import pathlib

import pytest

from server import ConfigError, ServerConfig, create_app
from server.config import DEFAULT_STORE_URL

from .conftest import RULES, copy_rules


def test_defaults() -> None:
    config = ServerConfig(rules_dir=str(RULES))
    assert config.store_url == DEFAULT_STORE_URL == "sqlite:///var/callpolicy.db"
    assert (config.port, config.workers) == (8080, 1)


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"rules_dir": "/no/such/dir"}, "server config: rules_dir: expected an existing directory"),
        ({"store_url": "postgres://x"}, "server config: store_url: expected sqlite"),
        ({"store_url": ""}, "server config: store_url"),
        ({"port": 70000}, "server config: port: expected a TCP port"),
        ({"workers": 0}, "server config: workers: expected 1-64"),
        ({"max_body_bytes": 10}, "server config: max_body_bytes"),
        ({"key_cache_seconds": -1.0}, "server config: key_cache_seconds: expected 0-3600"),
    ],
)
def test_bad_values_name_the_key(changes: dict[str, object], match: str) -> None:
    kwargs: dict[str, object] = {"rules_dir": str(RULES), **changes}
    with pytest.raises(ConfigError, match=match):
        ServerConfig(**kwargs)  # type: ignore[arg-type]


def test_from_env() -> None:
    env = {"CALLPOLICY_RULES": str(RULES), "CALLPOLICY_PORT": "9000", "CALLPOLICY_STORE": "x.db"}
    config = ServerConfig.from_env(env)
    assert (config.rules_dir, config.port, config.store_url) == (str(RULES), 9000, "x.db")


def test_from_env_names_the_variable() -> None:
    env = {"CALLPOLICY_RULES": str(RULES), "CALLPOLICY_PORT": "eighty"}
    with pytest.raises(ValueError, match=r"\$CALLPOLICY_PORT \(port\)"):
        ServerConfig.from_env(env)
    with pytest.raises(ConfigError, match=r"rules_dir: set \$CALLPOLICY_RULES"):
        ServerConfig.from_env({})


def test_unopenable_store_fails_at_boot(tmp_path: pathlib.Path) -> None:
    (tmp_path / "state.db").write_bytes(b"this is not an SQLite database" * 100)
    url = f"sqlite:///{tmp_path}/state.db"
    with pytest.raises(ConfigError, match="server config: store_url: cannot open"):
        create_app(ServerConfig(rules_dir=str(RULES), store_url=url))


def test_broken_rules_fail_at_boot_with_every_error(tmp_path: pathlib.Path) -> None:
    rules = copy_rules(tmp_path / "rules", '[[block]]\nid = "x"\nreason = "Bad Reason"\n')
    url = f"sqlite:///{tmp_path}/state.db"
    with pytest.raises(ConfigError, match=r"rules_dir: .* does not compile: 1 error") as info:
        create_app(ServerConfig(rules_dir=str(rules), store_url=url))
    assert "blocks.toml:" in str(info.value)
