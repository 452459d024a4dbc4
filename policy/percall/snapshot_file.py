"""Save a compiled Snapshot to one file and load it back without the rules engine.

The file carries the rule files' texts (so the loaded snapshot can explain itself with
file:line), the class and decision tables, and the trie's own snapshot bytes. Loading
re-checks the rules (milliseconds), verifies the revision, and never runs the engine.
"""

from __future__ import annotations

import os
import tempfile
from typing import Literal

import msgspec

from compiled import PrefixTrie
from policy.compiler.compile import COMBOS, DestClass, Snapshot
from policy.errors import EngineError
from policy.rules._decode import Source
from policy.rules.load import FILES, rules_from_sources
from policy.rules.model import Decision

__all__ = ["load_snapshot", "save_snapshot"]


class SnapshotFileV1(msgspec.Struct, frozen=True, kw_only=True):
    """The on-disk form of a Snapshot."""

    format: Literal["callpolicy-snapshot"] = "callpolicy-snapshot"
    version: Literal[1] = 1
    revision: str
    directory: str
    sources: tuple[Source, ...]
    classes: tuple[DestClass, ...]
    table: tuple[Decision, ...]
    trie: bytes


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(SnapshotFileV1)


def save_snapshot(snap: Snapshot, path: str | os.PathLike[str]) -> None:
    """Write ``snap`` to ``path`` atomically (write a temporary file, then rename)."""
    with tempfile.TemporaryDirectory() as tmp:
        trie_path = os.path.join(tmp, "trie")
        snap.trie.save(trie_path)
        with open(trie_path, "rb") as fh:
            trie_bytes = fh.read()
    body = SnapshotFileV1(
        revision=snap.revision,
        directory=snap.rules.directory,
        sources=snap.rules.sources,
        classes=snap.classes,
        table=snap.table,
        trie=trie_bytes,
    )
    target = os.fspath(path)
    tmp_path = f"{target}.tmp"
    with open(tmp_path, "wb") as fh:
        fh.write(_encoder.encode(body))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp_path, target)


def load_snapshot(path: str | os.PathLike[str]) -> Snapshot:
    """Read a snapshot written by :func:`save_snapshot` (raises ValueError if it is bad)."""
    with open(path, "rb") as fh:
        try:
            body = _decoder.decode(fh.read())
        except msgspec.DecodeError as exc:
            raise ValueError(f"{os.fspath(path)}: not a callpolicy snapshot: {exc}") from None
    # Files by their name relative to the rules directory, as load_rules names them (older
    # snapshot files carry the path they were read from; the revision covers names and texts).
    sources = {n: Source(f"{n}.toml", s.text) for n, s in zip(FILES, body.sources, strict=True)}
    rules = rules_from_sources(body.directory, sources)
    if rules.digest != body.revision:
        raise ValueError(f"{os.fspath(path)}: rule texts do not match revision {body.revision}")
    if len(body.table) != len(body.classes) * COMBOS:
        raise EngineError(f"{os.fspath(path)}: table size does not match the classes")
    with tempfile.TemporaryDirectory() as tmp:
        trie_path = os.path.join(tmp, "trie")
        with open(trie_path, "wb") as fh:
            fh.write(body.trie)
        trie = PrefixTrie.load(trie_path)
    return Snapshot(
        rules=rules,
        trie=trie,
        classes=body.classes,
        table=body.table,
        carriers={c.id: c for c in rules.carriers.carrier},
        areas={a.id: a for a in rules.emergency.area},
    )
