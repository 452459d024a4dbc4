"""A compiled snapshot saved to a file decides exactly as the one in memory."""

from __future__ import annotations

import pathlib

import pytest

from policy import (
    AccountPolicy,
    Call,
    Snapshot,
    compile_account,
    decide,
    load_snapshot,
    save_snapshot,
)

DIALS = [
    "112",
    "110",
    "09001123456",
    "11822",
    "11833",
    "+44 20 7946 0000",
    "030 1234567",
    "x",
    "030 12",
]


def test_round_trip(snapshot: Snapshot, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "snap.bin"
    save_snapshot(snapshot, path)
    loaded = load_snapshot(path)
    assert loaded.revision == snapshot.revision
    assert loaded.trie.items() == snapshot.trie.items()
    policy = AccountPolicy(account="a", npn="+4930123456", lifted=("directory",))
    a, b = compile_account(snapshot, policy), compile_account(loaded, policy)
    for dial in DIALS:
        assert decide(snapshot, Call(to=dial), a) == decide(loaded, Call(to=dial), b)


def test_corrupt_file_is_a_clear_error(snapshot: Snapshot, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "snap.bin"
    save_snapshot(snapshot, path)
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="not a callpolicy snapshot"):
        load_snapshot(path)
