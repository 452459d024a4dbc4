"""The README's command lines run as written (README.md, "The operator's CLI").

The lines are parsed out of the README, so an example that stops working fails here. They
run in a directory that looks like a fresh checkout (``rules/`` and ``docs/``, no ``var/``),
through the ``callpolicy`` entry point's ``main``.
"""

from __future__ import annotations

import json
import pathlib
import shlex

import pytest

from policy.cli import main

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROGRAM = ".venv/bin/callpolicy"


def readme_commands() -> list[list[str]]:
    """The command lines of the README's CLI section, split as a shell would."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## The operator's CLI", 1)[1]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    return [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]


COMMANDS = readme_commands()


def test_the_readme_shows_the_commands_and_ships_their_files() -> None:
    assert len(COMMANDS) >= 6
    assert all(argv[0] == PROGRAM for argv in COMMANDS)
    assert {argv[1] for argv in COMMANDS} >= {"check", "test", "explain", "compile", "dump"}
    files = [argv[i + 1] for argv in COMMANDS for i, a in enumerate(argv) if a == "--account-file"]
    assert files, "the README shows --account-file"
    for file in files:
        assert (ROOT / file).is_file(), f"{file} is not shipped"


@pytest.fixture
def checkout(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """A working directory with the shipped rules/ and docs/, like a fresh checkout."""
    for name in ("rules", "docs"):
        (tmp_path / name).symlink_to(ROOT / name, target_is_directory=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(a[1:3]) for a in COMMANDS])
def test_readme_command_runs(
    argv: list[str], checkout: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(argv[1:])

    out, err = capsys.readouterr()
    assert code == 0, f"{shlex.join(argv)}: exit {code}\n{out}\n{err}"
    assert out
    if "--json" in argv:
        json.loads(out)
    if "-o" in argv:
        assert (checkout / argv[argv.index("-o") + 1]).is_file()
