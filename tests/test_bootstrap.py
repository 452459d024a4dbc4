"""scripts/bootstrap.sh installs only when its inputs changed (`make run` starts fast).

Runs the real script in a scratch tree with a stand-in ``.venv/bin/python`` that records
``pip`` calls instead of installing, stand-ins for redis-server, sipp, chromium and
kamailio on PATH (so apt-get is never reached) and a stand-in npm that records its calls.
The shared .venv and tests/web/node_modules are not touched.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture
def tree(tmp_path: pathlib.Path) -> pathlib.Path:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "bootstrap.sh", tmp_path / "scripts" / "bootstrap.sh")
    for name in ("pyproject.toml", "setup.py"):
        (tmp_path / name).write_text(f"# {name}\n")
    for pyx in ("compiled/_trie", "sip_edge/_wire"):
        (tmp_path / pyx).parent.mkdir(exist_ok=True)
        (tmp_path / f"{pyx}.pyx").write_text("# cython\n")
        (tmp_path / f"{pyx}.cpython-311-x86_64-linux-gnu.so").write_text("")
    venv = tmp_path / ".venv" / "bin"
    venv.mkdir(parents=True)
    fake = venv / "python"
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = -m ] && [ "$2" = pip ]; then echo "$*" >> "$(dirname "$0")/../pip.log"; '
        "exit 0; fi\n"
        f'exec {sys.executable} "$@"\n'
    )
    (venv / "callpolicy").write_text("#!/bin/sh\n")
    tools = tmp_path / "tools"
    tools.mkdir()
    for tool in ("redis-server", "sipp", "chromium", "kamailio"):
        (tools / tool).write_text("#!/bin/sh\n")
    # npm ci replaces node_modules with the locked packages: so does the stand-in.
    (tools / "npm").write_text(
        "#!/bin/sh\n"
        f'echo "$*" >> {tmp_path / "npm.log"}\n'
        "rm -rf node_modules && mkdir -p node_modules/axe-core && "
        "touch node_modules/axe-core/axe.min.js\n"
    )
    for f in (fake, venv / "callpolicy", *tools.iterdir()):
        f.chmod(0o755)
    web = tmp_path / "tests" / "web"
    web.mkdir(parents=True)
    (web / "package.json").write_text('{"devDependencies": {"axe-core": "4.14.1"}}\n')
    (web / "package-lock.json").write_text('{"lockfileVersion": 3}\n')
    return tmp_path


def bootstrap(tree: pathlib.Path, **env: str) -> tuple[list[str], str]:
    """Run the script; the pip calls it made (this run only) and its output."""
    log = tree / ".venv" / "pip.log"
    log.unlink(missing_ok=True)
    path = f"{tree / 'tools'}{os.pathsep}{os.environ['PATH']}"
    done = subprocess.run(
        ["bash", "scripts/bootstrap.sh"],
        cwd=tree,
        env={**os.environ, "PATH": path, "PYTHON": sys.executable, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    calls = log.read_text().splitlines() if log.exists() else []
    return calls, done.stdout


def npm_calls(tree: pathlib.Path) -> list[str]:
    """The npm calls of every run so far."""
    log = tree / "npm.log"
    return log.read_text().splitlines() if log.exists() else []


def test_installs_once_then_skips_until_an_input_changes(tree: pathlib.Path) -> None:
    calls, _ = bootstrap(tree)
    assert calls[-1] == "-m pip install -q -e .[dev,bench]"

    calls, out = bootstrap(tree)
    assert calls == []
    assert "up to date" in out

    (tree / "sip_edge" / "_wire.pyx").write_text("# cython, edited\n")
    assert bootstrap(tree)[0][-1] == "-m pip install -q -e .[dev,bench]"
    assert bootstrap(tree)[0] == []

    with (tree / "pyproject.toml").open("a") as fh:
        fh.write("# a new dependency\n")
    assert bootstrap(tree)[0] != []


def test_a_missing_extension_or_a_forced_run_installs(tree: pathlib.Path) -> None:
    bootstrap(tree)
    (tree / "compiled" / "_trie.cpython-311-x86_64-linux-gnu.so").unlink()
    assert bootstrap(tree)[0] != []  # the build puts it back (the stand-in pip does not)
    (tree / "compiled" / "_trie.cpython-311-x86_64-linux-gnu.so").write_text("")
    assert bootstrap(tree)[0] == []
    assert bootstrap(tree, CALLPOLICY_REINSTALL="1")[0] != []


def test_npm_ci_runs_when_the_lock_changed_or_the_packages_are_gone(tree: pathlib.Path) -> None:
    bootstrap(tree)
    assert npm_calls(tree) == ["ci --no-audit --no-fund --loglevel=error"]
    bootstrap(tree)
    assert len(npm_calls(tree)) == 1  # unchanged: no npm at all

    web = tree / "tests" / "web"
    (web / "package-lock.json").write_text('{"lockfileVersion": 3, "changed": true}\n')
    bootstrap(tree)
    assert len(npm_calls(tree)) == 2
    bootstrap(tree)
    assert len(npm_calls(tree)) == 2

    shutil.rmtree(web / "node_modules")
    calls, out = bootstrap(tree)
    assert len(npm_calls(tree)) == 3
    assert calls == [] and "up to date" in out  # the venv's stamp is a separate matter
