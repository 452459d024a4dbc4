"""Child-process entry of the rules engine: msgpack facts on stdin, verdicts on stdout.

Run as ``python -m policy._engine_child`` by :func:`policy.engine.evaluate_in_child`. A
plain subprocess (not multiprocessing) so the parent's ``__main__`` is never re-imported
and the child is a fresh interpreter: the engine's registrations die with it.
"""

from __future__ import annotations

import sys

from .engine import Engine, decode_facts, encode_verdicts


def main() -> int:
    """Evaluate the facts read from stdin and write the verdicts to stdout."""
    facts = decode_facts(sys.stdin.buffer.read())
    sys.stdout.buffer.write(encode_verdicts(Engine.instance().evaluate(facts)))
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
