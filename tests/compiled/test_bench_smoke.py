"""Smoke test: the prefix lookup benchmark runs end to end (no timing is asserted)."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
BENCH = BENCHMARKS / "lookup.py"


def _data_module() -> ModuleType:
    """Import benchmarks/_data.py by path (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_data", BENCHMARKS / "_data.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _run(*flags: str) -> subprocess.CompletedProcess[str]:
    """Run the benchmark with flags; fail with its stderr if it exits non-zero."""
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", *flags],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc


def test_quick_run_prints_the_table() -> None:
    out = _run().stdout
    assert "| prefixes | contender | build s | lookup ns | vs datrie |" in out
    for name in ("prefixtrie", "datrie", "marisa", "dict"):
        assert f"| {name} |" in out


def test_quick_run_json() -> None:
    result = json.loads(_run("--json").stdout)
    assert {row["contender"] for row in result["rows"]} == {
        "prefixtrie",
        "datrie",
        "marisa",
        "dict",
    }
    assert all(row["lookup_ns"] > 0 for row in result["rows"])


def test_generator_is_deterministic_and_realistic() -> None:
    data = _data_module()
    prefixes = data.prefixes(5000, seed=3)
    assert prefixes == data.prefixes(5000, seed=3)
    assert prefixes != data.prefixes(5000, seed=4)
    assert len(prefixes) == len(set(prefixes)) == 5000
    assert all(p.isdigit() and p.isascii() and 1 <= len(p) <= 14 for p in prefixes)
    assert {"49", "4930", "44", "1", "881"} <= set(prefixes)
    queries = data.queries(prefixes, 2000, seed=5)
    assert queries == data.queries(prefixes, 2000, seed=5)
    assert all(q.isdigit() and 10 <= len(q) <= 14 for q in queries)
    # Misses are the queries on MISS_LEADS, which no generated prefix starts with (~10%).
    assert not any(p.startswith(data.MISS_LEADS) for p in prefixes)
    misses = sum(q.startswith(data.MISS_LEADS) for q in queries)
    assert 0.05 < misses / len(queries) < 0.15
