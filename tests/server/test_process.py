"""The real thing: ``python -m server serve`` and ``keys add`` in child processes."""

from __future__ import annotations

import pathlib
import signal
import subprocess

import httpx

from policy.state.store import SqliteStore

from ._serve import ROOT, Server, add_key, server_command
from .conftest import ACME, NOW, RULES


def test_serve_and_keys(tmp_path: pathlib.Path) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    operator = add_key(url, "operator")
    assert operator.startswith("cpk_")
    with Server(str(RULES), url, log=str(tmp_path / "server.log")) as server:
        op = {"Authorization": f"Bearer {operator}"}
        with httpx.Client(base_url=server.url, timeout=30) as c:
            assert c.get("/health").json()["status"] == "ok"
            r = c.post("/v1/accounts", json={"id": "acme"}, headers=op)
            assert r.status_code == 201, r.text
            admin = add_key(url, "admin", "acme")  # while the server runs: same file
            a = {"X-API-Key": admin}
            r = c.delete(
                "/v1/accounts/acme/blocks/operator/directory",
                headers={**a, "Idempotency-Key": "p-1"},
            )
            assert r.status_code == 200, r.text
            assert r.json()["charge"]["fee_cents"] == 1500
            r = c.get("/v1/decisions", params={"to": "11833"}, headers=a)
            assert r.json()["decision"]["reason"] == "lifted"
            assert c.get("/v1/accounts/bravo", headers=a).status_code == 404
            assert c.get("/v1/accounts", headers=op).json() == {"accounts": ["acme"]}
            assert c.get("/v1/accounts").status_code == 401
        assert server.stop() in (0, -signal.SIGTERM)
    assert "Application shutdown complete" in (tmp_path / "server.log").read_text()


def test_serve_with_two_workers(tmp_path: pathlib.Path) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    store = SqliteStore(f"{tmp_path}/state.db")
    store.create_account(ACME, NOW)
    store.close()
    key = add_key(url, "admin", "acme")
    log = str(tmp_path / "server.log")
    with Server(str(RULES), url, ["--workers", "2"], log=log) as server:
        for _ in range(20):  # new connections: spread over both workers
            r = httpx.get(
                f"{server.url}/v1/decisions",
                params={"to": "09001123456"},
                headers={"X-API-Key": key},
                timeout=30,
            )
            assert r.json()["decision"]["verdict"] == "block"
    assert "Started parent process" in pathlib.Path(log).read_text()


def test_keys_add_refuses_an_unknown_account(tmp_path: pathlib.Path) -> None:
    cmd = server_command(
        "keys", "add", "--role", "admin", "--account", "ghost", "--store", f"{tmp_path}/s.db"
    )
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 1
    assert "account 'ghost' does not exist" in done.stderr
    assert done.stdout == ""


def test_serve_fails_at_boot_naming_the_key(tmp_path: pathlib.Path) -> None:
    cmd = server_command("serve", "--rules", str(tmp_path / "nope"), "--store", f"{tmp_path}/s.db")
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 1
    assert "server config: rules_dir: expected an existing directory" in done.stderr
