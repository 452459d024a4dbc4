"""Immutable longest-prefix trie over decimal digit strings (Cython) and its pure-Python twin."""

from compiled._common import MAX_DIGITS, NO_MATCH, TrieError
from compiled._reference import ReferenceTrie
from compiled._trie import PrefixTrie

__all__ = ["MAX_DIGITS", "NO_MATCH", "PrefixTrie", "ReferenceTrie", "TrieError"]
