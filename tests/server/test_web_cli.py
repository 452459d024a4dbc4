"""``python -m server users``: the first web logins come from the command line."""

from __future__ import annotations

import io
import json
import pathlib

import pytest

from policy import Account, verify_password
from policy.state.store import SqliteStore
from server.__main__ import main


@pytest.fixture
def url(tmp_path: pathlib.Path) -> str:
    """A store with the account ``demo``."""
    path = tmp_path / "s.db"
    store = SqliteStore(str(path))
    store.create_account(Account(id="demo"), 0.0)
    store.close()
    return f"sqlite:///{path}"


def _run(monkeypatch: pytest.MonkeyPatch, stdin: str, *argv: str) -> int:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(list(argv))


def test_add_list_passwd_disable(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = (
        "users",
        "add",
        "--login",
        "Anna",
        "--role",
        "admin",
        "--account",
        "demo",
        "--store",
        url,
    )
    assert _run(monkeypatch, "first password\n", *args) == 0
    assert "created admin login anna of account demo" in capsys.readouterr().err
    assert (
        _run(monkeypatch, "", "users", "list", "--account", "demo", "--json", "--store", url) == 0
    )
    listed = json.loads(capsys.readouterr().out)
    assert [(u["login"], u["role"], u["disabled"]) for u in listed] == [("anna", "admin", False)]
    assert "hash" not in json.dumps(listed)
    assert (
        _run(monkeypatch, "second password\n", "users", "passwd", "--login", "anna", "--store", url)
        == 0
    )
    assert _run(monkeypatch, "", "users", "disable", "--login", "anna", "--store", url) == 0
    store = SqliteStore(url.removeprefix("sqlite://"))
    try:
        user = store.get_user("anna")
        assert user is not None and user.disabled
        assert verify_password(user.password_hash, "second password")
    finally:
        store.close()


@pytest.mark.parametrize(
    ("stdin", "argv", "message"),
    [
        ("short\n", ("--login", "x1", "--role", "operator"), "password: 10 to 256"),
        ("long enough pw\n", ("--login", "x1", "--role", "admin"), "needs an account"),
        (
            "long enough pw\n",
            ("--login", "x1", "--role", "admin", "--account", "nope"),
            "does not exist",
        ),
        ("long enough pw\n", ("--login", "no spaces", "--role", "operator"), "user name"),
    ],
)
def test_add_refuses_with_a_message(
    url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    stdin: str,
    argv: tuple[str, ...],
    message: str,
) -> None:
    assert _run(monkeypatch, stdin, "users", "add", *argv, "--store", url) == 1
    assert message in capsys.readouterr().err


def test_a_taken_login_is_refused(
    url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("users", "add", "--login", "op", "--role", "operator", "--store", url)
    assert _run(monkeypatch, "long enough pw\n", *args) == 0
    assert _run(monkeypatch, "long enough pw\n", *args) == 1
    assert "op" in capsys.readouterr().err
