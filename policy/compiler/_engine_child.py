"""Child-process entry of the rules engine: msgpack on stdin, msgpack on stdout.

``python -m policy.compiler._engine_child calls`` evaluates call facts with the fixed ruleset;
``... dialer`` evaluates power-dialer window totals with a ruleset built from the rule
file. A plain subprocess (not multiprocessing): the parent's ``__main__`` is never
re-imported, and the child is a fresh interpreter whose registrations die with it.
"""

from __future__ import annotations

import sys

import msgspec

from policy.compiler.dialer import DialerBatch, escalate_in_process
from policy.compiler.engine import Engine, decode_facts, encode_verdicts


def main(argv: list[str]) -> int:
    """Evaluate what stdin holds, per the mode in ``argv``; write the answer to stdout."""
    data = sys.stdin.buffer.read()
    mode = argv[0] if argv else "calls"
    if mode == "calls":
        answer = encode_verdicts(Engine.instance().evaluate(decode_facts(data)))
    elif mode == "dialer":
        batch = msgspec.msgpack.decode(data, type=DialerBatch)
        answer = msgspec.msgpack.encode(escalate_in_process(batch.rules, batch.totals))
    else:
        sys.stderr.write(f"unknown mode {mode!r}: expected calls or dialer\n")
        return 2
    sys.stdout.buffer.write(answer)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
