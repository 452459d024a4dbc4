"""The load benchmarks of issue 12 run (smoke mode); nothing asserts a timing.

benchmarks/reload_load.py and benchmarks/overload.py with ``--quick`` (a fixed low
"highest rate", a few seconds), and benchmarks/sip.py ``--metrics-cost --quick``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from .conftest import ROOT

pytestmark = pytest.mark.skipif(
    shutil.which("sipp") is None, reason="sipp binary not found (CI installs it)"
)


def _run(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, *args], capture_output=True, timeout=300, check=False, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    return done.stdout.decode()


def test_reload_benchmark_quick_smoke() -> None:
    out = _run(str(ROOT / "benchmarks" / "reload_load.py"), "--quick")
    assert "| reloads ok / refused per worker | [2, 2] / [1, 1] |" in out
    assert "| broken file: refused by workers / revision kept | 2 / True |" in out
    assert "blocks.toml:" in out


def test_overload_benchmark_quick_smoke() -> None:
    out = _run(str(ROOT / "benchmarks" / "overload.py"), "--quick")
    assert "| PSAP: calls / ok / failed (sipp status) |" in out


def test_metrics_cost_quick_smoke() -> None:
    out = _run(str(ROOT / "benchmarks" / "sip.py"), "--metrics-cost", "--quick",
               "--scenarios", "blocked")  # fmt: skip
    assert "| blocked | 50 | 2 |" in out
