"""Prefix lookup benchmark: PrefixTrie vs datrie vs marisa-trie vs a pure-Python dict loop.

Every contender runs in its own fresh subprocess (so memory is an honest RSS delta), on the
same generated prefixes and queries; the parent checks that all four give identical answers
and aborts loudly if not. Timings are medians of --repeats passes over the query list.

    .venv/bin/python benchmarks/lookup.py                      # 100k and 1M prefixes
    .venv/bin/python benchmarks/lookup.py --sizes 100000 --json
    .venv/bin/python benchmarks/lookup.py --quick              # smoke test, a few seconds
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _data  # sibling module: benchmarks/ is not a package

HEADER = (
    "| prefixes | contender | build s | lookup ns | vs datrie | batch ns/item "
    "| memory MB | vs datrie | arrays MB |"
)

Lookup = Callable[[str], int]


def _rss() -> int | None:
    """Resident set size of this process in bytes (Linux /proc), or None elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        return None


Built = tuple[Any, Lookup, Callable[[list[str]], float]]


def _build_prefixtrie(pairs: list[tuple[str, int]]) -> Built:
    """Our PrefixTrie (input in generated, shuffled order: build sorts in C)."""
    from compiled import PrefixTrie

    trie = PrefixTrie.build(pairs)
    f = trie.lookup

    def loop(qs: list[str]) -> float:
        t0 = time.perf_counter_ns()
        for q in qs:
            f(q)
        return time.perf_counter_ns() - t0

    return trie, f, loop


def _build_datrie(pairs: list[tuple[str, int]]) -> Built:
    """datrie.Trie over the digit alphabet, queried with longest_prefix_value."""
    import datrie

    dt = datrie.Trie("0123456789")
    # Sorted insertion is datrie's fast path (shuffled input took ~700 s at 1M here) and
    # gives its most compact double array; the sort itself is not timed.
    for key, value in sorted(pairs):
        dt[key] = value
    g = dt.longest_prefix_value

    def datrie_lookup(q: str) -> int:
        return int(g(q, -1))

    def loop(qs: list[str]) -> float:
        t0 = time.perf_counter_ns()
        for q in qs:
            g(q, -1)
        return time.perf_counter_ns() - t0

    return dt, datrie_lookup, loop


def _build_marisa(pairs: list[tuple[str, int]]) -> Built:
    """marisa_trie.Trie; the last of iter_prefixes_with_ids is the longest prefix."""
    import marisa_trie

    mt = marisa_trie.Trie([k for k, _ in pairs])
    # marisa assigns its own key ids: a uint32 array maps them to our values.
    vals = array("I", bytes(4 * len(mt)))
    for key, value in pairs:
        vals[mt[key]] = value
    it = mt.iter_prefixes_with_ids

    def marisa_lookup(q: str) -> int:
        kid = -1
        for _, kid in it(q):  # noqa: B007  (the last prefix is the longest)
            pass
        return vals[kid] if kid >= 0 else -1

    def loop(qs: list[str]) -> float:
        t0 = time.perf_counter_ns()
        for q in qs:
            kid = -1
            for _, kid in it(q):  # noqa: B007
                pass
            _ = vals[kid] if kid >= 0 else -1
        return time.perf_counter_ns() - t0

    return (mt, vals), marisa_lookup, loop


def _build_dict(pairs: list[tuple[str, int]]) -> Built:
    """A dict and a longest-first loop over the query's prefixes: the pure-Python baseline."""
    table = dict(pairs)
    get = table.get

    def dict_lookup(q: str) -> int:
        for k in range(len(q), -1, -1):
            v = get(q[:k])
            if v is not None:
                return v
        return -1

    def loop(qs: list[str]) -> float:
        t0 = time.perf_counter_ns()
        for q in qs:
            for k in range(len(q), -1, -1):
                if get(q[:k]) is not None:
                    break
        return time.perf_counter_ns() - t0

    return table, dict_lookup, loop


BUILDERS: dict[str, Callable[[list[tuple[str, int]]], Built]] = {
    "prefixtrie": _build_prefixtrie,
    "datrie": _build_datrie,
    "marisa": _build_marisa,
    "dict": _build_dict,
}
CONTENDERS = tuple(BUILDERS)


def worker(name: str, data_dir: Path, repeats: int) -> dict[str, Any]:
    """Measure one contender in this (fresh) process; write its answers to data_dir."""
    pairs = [(k, int(v)) for k, v in (line.split() for line in (data_dir / "prefixes.txt").open())]
    queries = (data_dir / "queries.txt").read_text().split()
    gc.collect()
    rss0 = _rss()
    t0 = time.perf_counter()
    structure, lookup, loop = BUILDERS[name](pairs)
    build_s = time.perf_counter() - t0
    gc.collect()
    rss1 = _rss()
    memory = None if rss0 is None or rss1 is None else rss1 - rss0
    if name == "dict":
        # The dict keeps its key strings alive; for the others they are temporary input.
        memory = None if memory is None else memory + sum(sys.getsizeof(k) for k in structure)
    answers = array("q", map(lookup, queries))
    with (data_dir / f"answers-{name}.bin").open("wb") as f:
        answers.tofile(f)
    per_lookup = [loop(queries) / len(queries) for _ in range(repeats)]
    result: dict[str, Any] = {
        "contender": name,
        "prefixes": len(pairs),
        "queries": len(queries),
        "build_s": build_s,
        "lookup_ns": statistics.median(per_lookup),
        "lookup_ns_all": per_lookup,
        "memory_bytes": memory,
        "batch_ns": None,
        "arrays_bytes": None,
    }
    if name == "prefixtrie":
        batch = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            structure.lookup_many(queries)
            batch.append((time.perf_counter() - t0) * 1e9 / len(queries))
        result["batch_ns"] = statistics.median(batch)
        result["arrays_bytes"] = structure.stats()["bytes"]
    return result


def _check_answers(data_dir: Path, queries: Sequence[str]) -> None:
    """Abort unless every contender gave the same answer to every query."""
    answers = {}
    for name in CONTENDERS:
        a = array("q")
        with (data_dir / f"answers-{name}.bin").open("rb") as f:
            a.fromfile(f, len(queries))
        answers[name] = a
    base = answers[CONTENDERS[0]]
    for name, other in answers.items():
        if other != base:
            bad = [i for i in range(len(queries)) if other[i] != base[i]][:5]
            for i in bad:
                print(
                    f"MISMATCH {queries[i]!r}: "
                    + ", ".join(f"{n}={answers[n][i]}" for n in CONTENDERS),
                    file=sys.stderr,
                )
            raise SystemExit(f"ABORT: {name} disagrees with {CONTENDERS[0]} on {len(bad)}+ queries")


def _run_size(size: int, n_queries: int, repeats: int) -> list[dict[str, Any]]:
    """Generate the data for one size and run every contender on it in a subprocess."""
    prefixes = _data.prefixes(size, seed=0)
    queries = _data.queries(prefixes, n_queries, seed=1)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-lookup-") as tmp:
        data_dir = Path(tmp)
        # Values are the prefix's index: distinct, so a wrong match cannot hide.
        (data_dir / "prefixes.txt").write_text(
            "".join(f"{p} {i}\n" for i, p in enumerate(prefixes))
        )
        (data_dir / "queries.txt").write_text("\n".join(queries) + "\n")
        for name in CONTENDERS:
            cmd = [
                sys.executable,
                __file__,
                "--worker",
                name,
                "--data",
                tmp,
                "--repeats",
                str(repeats),
            ]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                sys.stderr.write(proc.stderr)
                raise SystemExit(f"ABORT: worker {name} failed with exit code {proc.returncode}")
            rows.append(json.loads(proc.stdout))
            print(f"  {size:>9,} {name:<10} done", file=sys.stderr)
        _check_answers(data_dir, queries)
    return rows


def _fmt(x: float | None, spec: str) -> str:
    """Format a number, or '-' when there is none."""
    return "-" if x is None else format(x, spec)


def table(rows: list[dict[str, Any]]) -> str:
    """Render the results as a Markdown table with ratios against datrie."""
    lines = [HEADER, "|" + "---:|" * (HEADER.count("|") - 1)]
    for row in rows:
        ref = next(
            r for r in rows if r["prefixes"] == row["prefixes"] and r["contender"] == "datrie"
        )
        mem, ref_mem = row["memory_bytes"], ref["memory_bytes"]
        lines.append(
            f"| {row['prefixes']:,} | {row['contender']} | {row['build_s']:.3f} "
            f"| {row['lookup_ns']:.0f} | {row['lookup_ns'] / ref['lookup_ns']:.2f} "
            f"| {_fmt(row['batch_ns'], '.0f')} "
            f"| {_fmt(None if mem is None else mem / 1e6, '.1f')} "
            f"| {_fmt(mem / ref_mem if mem is not None and ref_mem else None, '.2f')} "
            f"| {_fmt(None if row['arrays_bytes'] is None else row['arrays_bytes'] / 1e6, '.1f')} |"
        )
    return "\n".join(lines)


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    from importlib.metadata import version

    import Cython

    import compiled._trie

    return {
        "nproc": str(os.cpu_count()),
        "python": platform.python_version(),
        "cython": Cython.__version__,
        "datrie": version("datrie"),
        "marisa_trie": version("marisa-trie"),
        "popcnt": str(compiled._trie.HAS_POPCNT),
        "platform": platform.platform(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Parse flags, run the benchmark (or one worker), and print the table or JSON."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000", help="comma-separated prefix counts")
    ap.add_argument("--queries", type=int, default=200_000, help="queries per timed pass")
    ap.add_argument("--repeats", type=int, default=5, help="timed passes; the median is shown")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test, not a result")
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    ap.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, Path(args.data), args.repeats)))
        return 0
    if args.quick:
        sizes, n_queries, repeats = [2_000], 5_000, 2
    else:
        sizes = [int(s) for s in args.sizes.split(",") if s]
        n_queries, repeats = args.queries, args.repeats
    rows = [row for size in sizes for row in _run_size(size, n_queries, repeats)]
    info = machine()
    if args.json:
        print(json.dumps({"machine": info, "queries": n_queries, "repeats": repeats, "rows": rows}))
    else:
        print(f"Prefix lookup: {n_queries:,} queries, median of {repeats} passes")
        print(", ".join(f"{k}={v}" for k, v in info.items()))
        print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
