"""The trie must run as the compiled extension, never as a silently imported .py fallback."""

from __future__ import annotations

import importlib.machinery

import compiled._trie
from compiled import PrefixTrie


def test_trie_module_is_a_compiled_extension() -> None:
    path = compiled._trie.__file__
    assert path is not None
    assert path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), path
    assert isinstance(compiled._trie.__loader__, importlib.machinery.ExtensionFileLoader)


def test_prefix_trie_is_a_c_type() -> None:
    # Python classes have a __dict__ and source; an extension type has neither.
    assert not hasattr(PrefixTrie.build([]), "__dict__")
    assert PrefixTrie.__module__ == "compiled._trie"


def test_popcount_flag_is_a_bool() -> None:
    # Which popcount the lookups use is picked at import; both variants are correct.
    assert isinstance(compiled._trie.HAS_POPCNT, bool)
