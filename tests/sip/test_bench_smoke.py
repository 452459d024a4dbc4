"""benchmarks/sip.py runs (smoke mode, the edge only); nothing asserts a timing."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from .conftest import ROOT


@pytest.mark.skipif(shutil.which("sipp") is None, reason="sipp binary not found (CI installs it)")
def test_sip_benchmark_quick_smoke() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "sip.py"), "--quick", "--proxies", "edge",
         "--scenarios", "blocked"],
        capture_output=True,
        timeout=300,
        check=False,
        cwd=ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-3000:]
    assert b"| blocked | edge |" in done.stdout
