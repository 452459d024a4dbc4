"""Benchmark: ``callpolicy diff`` replaying a large decision log against two rule sets.

Target (issue 12): a million log lines in seconds. The log is generated: N lines over a
pool of distinct numbers (a real log repeats numbers: customers call the same places),
some masked, decided under the shipped rules; the new rules add one operator block. The
table splits the time into reading (JSON lines -> events) and replaying (diff).

    python benchmarks/whatif.py [--lines N] [--distinct D] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import random
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import msgspec  # noqa: E402

from policy import (  # noqa: E402
    AccountPolicy,
    Call,
    compile_account,
    compile_dir,
    decide,
    diff,
    event_of,
    read_replay_keys,
)


def _numbers(distinct: int, rng: random.Random) -> list[str]:
    prefixes = ["+4930", "+4940", "+4989", "+49170", "+49151", "+499001", "+4411", "+3314"]
    return [f"{rng.choice(prefixes)}{rng.randrange(10**6, 10**8)}" for _ in range(distinct)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--distinct", type=int, default=20_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = random.Random(7)
    old = compile_dir(os.path.join(ROOT, "rules"))
    with tempfile.TemporaryDirectory() as tmp:
        rules = pathlib.Path(tmp, "rules")
        rules.mkdir()
        for f in pathlib.Path(ROOT, "rules").glob("*.toml"):
            (rules / f.name).write_text(f.read_text())
        block = '\n[[block]]\nid = "op-4930"\nreason = "operator_block"\nprefixes = ["+4930"]\n'
        (rules / "blocks.toml").write_text((rules / "blocks.toml").read_text() + block)
        new = compile_dir(str(rules))
        acct = compile_account(old, AccountPolicy(account="acme"))
        pool = []
        for i, number in enumerate(_numbers(args.distinct, rng)):
            masked = 4 if i % 2 else 0
            pool.append(
                msgspec.json.encode(
                    event_of(
                        decide(old, Call(to=number), acct),
                        decision_id=f"n-{i}",
                        ts=0.0,
                        node="bench",
                        revision=old.revision,
                        account="acme",
                        dial=number,
                        mask_digits=masked,
                    )
                )
            )
        log = pathlib.Path(tmp, "decisions.jsonl")
        with log.open("wb") as fh:
            for _ in range(args.lines):
                fh.write(pool[rng.randrange(len(pool))] + b"\n")
        t0 = time.perf_counter()
        events = list(read_replay_keys([str(log)]))
        t1 = time.perf_counter()
        report = diff(old, new, events)
        t2 = time.perf_counter()
    row = {
        "lines": report.lines,
        "distinct": args.distinct,
        "changed": report.changed,
        "uncertain": report.uncertain,
        "read_s": round(t1 - t0, 3),
        "replay_s": round(t2 - t1, 3),
        "total_s": round(t2 - t0, 3),
        "python": platform.python_version(),
    }
    if args.json:
        print(json.dumps(row))
        return 0
    print("| lines | distinct numbers | changed | uncertain | read s | replay s | total s |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {row['lines']:,} | {args.distinct:,} | {row['changed']:,} | {row['uncertain']:,} "
        f"| {row['read_s']} | {row['replay_s']} | {row['total_s']} |"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
