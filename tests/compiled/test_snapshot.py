"""Snapshot files: round trips, byte-identical output of both twins, and corrupt-file errors."""

from __future__ import annotations

import re
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiled import PrefixTrie, ReferenceTrie, TrieError, _reference, _snapshot
from compiled._snapshot import HEADER, MAGIC

IMPLS = [PrefixTrie, ReferenceTrie]
SAMPLE = [("", 9), ("49", 1), ("4930", 2), ("493012", 3), ("1", 4), ("44", 5), ("4917", 6)]


def _with_crc(data: bytes) -> bytes:
    """Return data with its checksum recomputed, so structural checks are what is tested."""
    return data[:12] + struct.pack("<I", zlib.crc32(data[16:])) + data[16:]


def _load_error(cls: Any, data: bytes, tmp_path: Path) -> str:
    """Write data to a file, load it with cls, and return the TrieError message."""
    path = tmp_path / f"{cls.__name__}.trie"
    path.write_bytes(data)
    with pytest.raises(TrieError) as info:
        cls.load(path)
    return str(info.value)


@pytest.mark.parametrize("cls", IMPLS)
def test_save_load_round_trip(cls: Any, tmp_path: Path) -> None:
    t = cls.build(SAMPLE)
    t.save(tmp_path / "a.trie")
    loaded = cls.load(tmp_path / "a.trie")
    assert loaded.items() == t.items() == sorted(SAMPLE)
    assert loaded.stats() == t.stats()
    assert loaded.match("4930123") == (3, 6)
    assert loaded.match("7") == (9, 0)
    assert [p.name for p in tmp_path.iterdir()] == ["a.trie"]  # no temp file left behind


@pytest.mark.parametrize("cls", IMPLS)
def test_empty_round_trip(cls: Any, tmp_path: Path) -> None:
    cls.build([]).save(str(tmp_path / "e.trie"))
    assert cls.load(str(tmp_path / "e.trie")).items() == []


def test_twins_write_identical_bytes_and_read_each_other(tmp_path: Path) -> None:
    pairs = [*SAMPLE, ("9" * 32, 7), ("0", 0)]
    compiled_file, reference_file = tmp_path / "c.trie", tmp_path / "r.trie"
    PrefixTrie.build(pairs).save(compiled_file)
    ReferenceTrie.build(pairs).save(reference_file)
    assert compiled_file.read_bytes() == reference_file.read_bytes()
    assert ReferenceTrie.load(compiled_file).items() == PrefixTrie.load(reference_file).items()


def test_save_overwrites_atomically(tmp_path: Path) -> None:
    path = tmp_path / "a.trie"
    PrefixTrie.build([("1", 1)]).save(path)
    PrefixTrie.build([("2", 2)]).save(path)
    assert PrefixTrie.load(path).items() == [("2", 2)]


def test_header_layout(tmp_path: Path) -> None:
    data = PrefixTrie.build(SAMPLE)._dumps()
    magic, version, crc, nodes, prefixes = HEADER.unpack_from(data)
    assert (magic, version, nodes, prefixes) == (MAGIC, 1, 11, 7)
    assert crc == zlib.crc32(data[16:])
    assert len(data) == 32 + 16 * 3 + 4 * 7  # 11 nodes in 3 blocks, 7 values


@pytest.mark.parametrize("cls", IMPLS)
@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda d: b"", r"^truncated snapshot: expected at least 32 header bytes, found 0$"),
        (lambda d: d[:20], r"^truncated snapshot: expected at least 32 header bytes, found 20$"),
        (lambda d: d[:-1], r"^truncated snapshot: header promises 108 bytes, found 107$"),
        (lambda d: d[:40], r"^truncated snapshot: header promises 108 bytes, found 40$"),
        (lambda d: d + b"\0", r"^corrupt snapshot: header promises 108 bytes, found 109$"),
        (
            lambda d: b"PK\x03\x04" + d[4:],
            r"^not a trie snapshot: expected magic b'CPTRIE\\r\\n', found b'PK\\x03\\x04IE\\r\\n'$",
        ),
        (
            lambda d: d[:8] + struct.pack("<I", 2) + d[12:],
            r"^unsupported snapshot format version 2, expected 1$",
        ),
        (
            lambda d: d[:50] + bytes([d[50] ^ 0x01]) + d[51:],
            r"^corrupt snapshot: checksum mismatch "
            r"\(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\)$",
        ),
        (
            lambda d: d[:-1] + bytes([d[-1] ^ 0x80]),
            r"^corrupt snapshot: checksum mismatch",
        ),
        (
            lambda d: d[:12] + bytes([d[12] ^ 0xFF]) + d[13:],
            r"^corrupt snapshot: checksum mismatch",
        ),
        (
            lambda d: d[:16] + struct.pack("<Q", 16) + d[24:],
            r"^truncated snapshot: header promises 124 bytes, found 108$",
        ),
        (
            lambda d: d[:16] + struct.pack("<Q", 0) + d[24:],
            r"^corrupt snapshot: counts nodes=0 prefixes=7, expected 1 <= nodes",
        ),
    ],
)
def test_corrupt_file(cls: Any, mangle: Any, message: str, tmp_path: Path) -> None:
    good = PrefixTrie.build(SAMPLE)._dumps()
    assert len(good) == 108
    error = _load_error(cls, mangle(good), tmp_path)
    assert re.search(message, error), error


def _poke(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    """Overwrite one field of a snapshot and fix the checksum."""
    out = bytearray(data)
    struct.pack_into(fmt, out, offset, value)
    return _with_crc(bytes(out))


_BLOCK1 = 32 + 16  # second block of SAMPLE's snapshot (nodes 5..9)
_VALUES = 32 + 16 * 3


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (
            lambda d: _poke(d, _BLOCK1 + 8, "<I", 99),
            r"^corrupt snapshot: block 1 child_base 99, expected 7$",
        ),
        (
            lambda d: _poke(d, _BLOCK1 + 12, "<I", 0),
            r"^corrupt snapshot: block 1 value_base 0, expected 4$",
        ),
        (
            lambda d: _poke(d, 32, "<Q", struct.unpack_from("<Q", d, 32)[0] | 1 << 63),
            r"^corrupt snapshot: block 0 has stray bits 0x8000000000000000, expected none$",
        ),
        (
            lambda d: _poke(d, _VALUES + 4 * 6, "<I", 2**32 - 1),
            r"^corrupt snapshot: value 6 is 4294967295, expected at most 4294967294$",
        ),
        (
            # Node 10 (the leaf 493012, first of block 2) loses its value bit: a dead leaf.
            lambda d: _poke(d, 32 + 32, "<Q", struct.unpack_from("<Q", d, 64)[0] & ~(1 << 50)),
            r"^corrupt snapshot: node 10 has neither a value nor children$",
        ),
        (
            # The root loses its child bits: node 1 is then nobody's child.
            lambda d: _poke(d, 32, "<Q", struct.unpack_from("<Q", d, 32)[0] & ~0x3FF),
            r"^corrupt snapshot: node 1 has no parent$",
        ),
    ],
)
@pytest.mark.parametrize("cls", IMPLS)
def test_structurally_invalid_file(cls: Any, mangle: Any, message: str, tmp_path: Path) -> None:
    good = PrefixTrie.build(SAMPLE)._dumps()
    error = _load_error(cls, mangle(good), tmp_path)
    assert re.search(message, error), error


@pytest.mark.parametrize("cls", IMPLS)
def test_too_deep_file(cls: Any, tmp_path: Path) -> None:
    # encode() does not validate, so it can write the 33-digit chain build() refuses.
    data = _snapshot.encode({"1" * 33: 1})
    error = _load_error(cls, data, tmp_path)
    assert error == "corrupt snapshot: node 33 at depth 33, expected at most 32"


@pytest.mark.parametrize("cls", IMPLS)
def test_missing_file_is_an_os_error(cls: Any, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        cls.load(tmp_path / "absent.trie")


_PAIRS = st.lists(
    st.tuples(st.text("0123456789", max_size=8), st.integers(0, 2**32 - 2)),
    max_size=30,
    unique_by=lambda p: p[0],
)


def _read(loader: Any, data: bytes) -> tuple[str, Any]:
    """("ok", items) or ("error", message) of loading snapshot bytes."""
    try:
        return "ok", loader(data).items()
    except TrieError as e:
        return "error", str(e)


@settings(max_examples=150, deadline=None)
@given(pairs=_PAIRS, data=st.data())
def test_any_corruption_is_caught_or_harmless(
    pairs: list[tuple[str, int]], data: st.DataObject
) -> None:
    """A changed byte, checksum fixed up: both twins read the same trie or fail alike."""
    good = PrefixTrie.build(pairs)._dumps()
    assert good == ReferenceTrie.build(pairs)._dumps()
    raw = bytearray(good)
    raw[data.draw(st.integers(16, len(good) - 1), label="offset")] ^= data.draw(
        st.integers(1, 255), label="xor"
    )
    bad = _with_crc(bytes(raw))
    # Where the C checks accept, the flip made another valid trie (e.g. a changed value).
    assert _read(PrefixTrie._from_bytes, bad) == _read(_reference._from_snapshot, bad)
