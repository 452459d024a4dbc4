"""ReferenceTrie: the slow, obviously-correct twin of PrefixTrie (a dict and a loop)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any, final

from compiled import _snapshot
from compiled._common import MAX_DIGITS, NO_MATCH, as_list, check_pairs, is_digits, not_a_str

__all__ = ["ReferenceTrie"]


@final
class ReferenceTrie:
    """Pure-Python PrefixTrie with the same interface and errors; used by differential tests."""

    __slots__ = ("_table",)
    _table: dict[str, int]

    def __init__(self) -> None:
        raise TypeError("use ReferenceTrie.build(pairs) or ReferenceTrie.load(path)")

    @classmethod
    def _from_table(cls, table: dict[str, int]) -> ReferenceTrie:
        """Wrap an already validated table."""
        self = object.__new__(cls)
        object.__setattr__(self, "_table", table)
        return self

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    @classmethod
    def build(cls, pairs: Iterable[tuple[str, int]]) -> ReferenceTrie:
        """Build from (prefix, value) pairs; raise TrieError on any bad or duplicate pair."""
        return cls._from_table(check_pairs(as_list(pairs)))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ReferenceTrie:
        """Load a snapshot written by save(); raise TrieError if the file is not a valid one."""
        return cls._from_table(_snapshot.decode(_snapshot.read(path)))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write a snapshot atomically, byte-identical to what PrefixTrie writes."""
        _snapshot.write_atomic(path, self._dumps())

    def _dumps(self) -> bytes:
        """Return the snapshot bytes."""
        return _snapshot.encode(self._table)

    def match(self, digits: str) -> tuple[int, int]:
        """(value, length of the matched prefix), or (NO_MATCH, -1)."""
        if not isinstance(digits, str):
            raise not_a_str(digits)
        if len(digits) > MAX_DIGITS or not is_digits(digits):
            return NO_MATCH, -1
        table = self._table
        for length in range(len(digits), -1, -1):
            value = table.get(digits[:length])
            if value is not None:
                return value, length
        return NO_MATCH, -1

    def lookup(self, digits: str) -> int:
        """Value of the longest stored prefix of digits, or NO_MATCH."""
        return self.match(digits)[0]

    def lookup_many(self, numbers: Sequence[str]) -> list[int]:
        """lookup() for each item of a sequence, as a list."""
        return [self.match(s)[0] for s in as_list(numbers)]  # type: ignore[arg-type]

    def items(self) -> list[tuple[str, int]]:
        """All (prefix, value) pairs, sorted by prefix."""
        return sorted(self._table.items())

    def stats(self) -> dict[str, int]:
        """Sizes PrefixTrie's layout would have for this table."""
        return _snapshot.layout_stats(self._table)

    def __len__(self) -> int:
        return len(self._table)

    def __repr__(self) -> str:
        return f"ReferenceTrie(prefixes={len(self)}, nodes={self.stats()['nodes']})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (_from_snapshot, (self._dumps(),))


def _from_snapshot(data: bytes) -> ReferenceTrie:
    """Rebuild a ReferenceTrie from snapshot bytes (the pickle path)."""
    return ReferenceTrie._from_table(_snapshot.decode(data))
