"""Typed use of the compiled package: mypy --strict checks it against compiled/_trie.pyi."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

from compiled import MAX_DIGITS, NO_MATCH, PrefixTrie, ReferenceTrie, TrieError


def test_prefix_trie_types(tmp_path: Path) -> None:
    """Every public method of PrefixTrie, with annotated results mypy checks."""
    pairs: list[tuple[str, int]] = [("49", 1), ("4930", 2)]
    t: PrefixTrie = PrefixTrie.build(pairs)
    t2: PrefixTrie = PrefixTrie.build(dict(pairs).items())
    x: int = t.lookup("4930123")
    value, length = t.match("4930123")
    m: tuple[int, int] = (value, length)
    many: list[int] = t.lookup_many(["49", "1"])
    many_t: list[int] = t.lookup_many(("49",))
    items: list[tuple[str, int]] = t.items()
    stats: dict[str, int] = t.stats()
    n: int = len(t)
    path: str | os.PathLike[str] = tmp_path / "t.trie"
    t.save(path)
    loaded: PrefixTrie = PrefixTrie.load(path)
    loaded_str: PrefixTrie = PrefixTrie.load(str(path))
    again: PrefixTrie = pickle.loads(pickle.dumps(t))
    assert (x, m, many, many_t, n) == (2, (2, 4), [1, NO_MATCH], [1], 2)
    assert items == t2.items() == loaded.items() == loaded_str.items() == again.items()
    assert stats["prefixes"] == 2 and stats["nodes"] >= 1 and stats["bytes"] > 0


def test_reference_trie_types(tmp_path: Path) -> None:
    """ReferenceTrie offers the same typed interface."""
    r: ReferenceTrie = ReferenceTrie.build([("49", 1)])
    x: int = r.lookup("49")
    m: tuple[int, int] = r.match("49")
    many: list[int] = r.lookup_many(["49"])
    r.save(tmp_path / "r.trie")
    loaded: ReferenceTrie = ReferenceTrie.load(tmp_path / "r.trie")
    assert (x, m, many, loaded.items(), len(r)) == (1, (1, 2), [1], [("49", 1)], 1)
    assert r.stats() == PrefixTrie.build([("49", 1)]).stats()


def test_error_and_constants_types() -> None:
    """TrieError is a ValueError; the constants are ints."""
    limit: int = MAX_DIGITS
    miss: int = NO_MATCH
    err: ValueError = TrieError("x")
    assert (limit, miss, str(err)) == (32, -1, "x")
