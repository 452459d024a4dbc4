"""Constants, the error type and input validation shared by PrefixTrie and ReferenceTrie."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "MAX_DIGITS",
    "MAX_VALUE",
    "NO_MATCH",
    "TrieError",
    "as_list",
    "check_pairs",
    "is_digits",
    "not_a_str",
]

NO_MATCH: int = -1
MAX_DIGITS: int = 32
# 2**32 - 1 is kept free so a uint32 slot could mark "no value" in other layouts.
MAX_VALUE: int = 2**32 - 2


class TrieError(ValueError):
    """Every error raised by the compiled package; the message says what was found and expected."""


def is_digits(s: str) -> bool:
    """Return True if s consists of ASCII digits 0-9 only (the empty string included)."""
    # str.isdigit() alone accepts '²' and Arabic-Indic digits; isascii() rules those out.
    return not s or (s.isascii() and s.isdigit())


def not_a_str(obj: object) -> TrieError:
    """Return the error for a lookup argument that is not a str."""
    return TrieError(f"expected a str of digits, found {type(obj).__name__}: {obj!r:.60}")


def as_list(obj: object) -> list[object]:
    """Return list(obj), or raise TrieError if obj is not iterable."""
    try:
        it = iter(obj)  # type: ignore[call-overload]
    except TypeError:
        raise TrieError(f"expected an iterable, found {type(obj).__name__}") from None
    return list(it)


def _check_pair(index: int, pair: object) -> tuple[str, int]:
    """Validate one build input pair and return it as (prefix, value)."""
    if not isinstance(pair, tuple | list) or len(pair) != 2:
        raise TrieError(
            f"pair at index {index}: expected a (prefix, value) tuple, found {pair!r:.60}"
        )
    prefix, value = pair
    if not isinstance(prefix, str) or not is_digits(prefix):
        raise TrieError(
            f"prefix at index {index}: expected a str of ASCII digits 0-9, found {prefix!r:.60}"
        )
    if len(prefix) > MAX_DIGITS:
        raise TrieError(
            f"prefix at index {index}: expected at most {MAX_DIGITS} digits, "
            f"found {len(prefix)} ({prefix!r})"
        )
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_VALUE:
        raise TrieError(
            f"value at index {index} (prefix {prefix!r}): expected an int in 0..{MAX_VALUE}, "
            f"found {value!r:.60}"
        )
    return prefix, int(value)


def check_pairs(pairs: Iterable[object]) -> dict[str, int]:
    """Validate build input in order and return it as a dict; raise TrieError at the first fault."""
    table: dict[str, int] = {}
    first: dict[str, int] = {}
    for index, pair in enumerate(pairs):
        prefix, value = _check_pair(index, pair)
        if prefix in table:
            raise TrieError(
                f"duplicate prefix {prefix!r} at index {index} "
                f"(first given at index {first[prefix]})"
            )
        table[prefix] = value
        first[prefix] = index
    return table
