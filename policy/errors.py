"""Typed errors of the policy core.

Two families, kept apart as OPA keeps ``ast.Error`` apart from ``topdown.Error``:

* :class:`RuleError` / :class:`RuleErrors`: a rule file is wrong. Each error has a stable
  code, the file and line, the JSON path msgspec reported, what was found and what was
  expected. They are collected, sorted and reported together (up to a limit), so an
  operator sees every mistake in one ``callpolicy check`` run.
* :class:`EngineError`: the rules engine failed to give a verdict (timeout, no rule fired).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = [
    "ERROR_LIMIT",
    "AccountError",
    "EngineError",
    "RuleError",
    "RuleErrors",
    "RuleWarning",
]

#: How many errors one check reports before it stops collecting (OPA's default is 10; rule
#: files are small, so a larger limit shows an operator more of a bad edit at once).
ERROR_LIMIT = 50

#: Stable error codes. Tests and tools may match on these; never rename one.
CODES = frozenset(
    {
        "rule_parse_error",  # not valid TOML / unreadable file
        "rule_schema_error",  # valid TOML, wrong shape or value
        "rule_conflict_error",  # two rules say different things about the same thing
        "rule_reference_error",  # a rule names something that does not exist
        "rule_file_error",  # a required file is missing
        "rule_test_error",  # an operator test case is malformed
    }
)


class RuleError(Exception):
    """One located mistake in a rule file."""

    def __init__(
        self,
        code: str,
        file: str,
        line: int,
        path: str,
        found: str,
        expected: str,
    ) -> None:
        assert code in CODES, code
        self.code = code
        self.file = file
        self.line = line
        self.path = path
        self.found = found
        self.expected = expected
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        path = f"{self.path}: " if self.path else ""
        return f"{where}: {self.code}: {path}expected {self.expected}, got {self.found}"

    def sort_key(self) -> tuple[str, int, str]:
        """Order errors by file, then line, then path."""
        return (self.file, self.line, self.path)


class RuleWarning(RuleError):
    """A located finding that does not stop the rules from loading."""

    def __str__(self) -> str:
        return "warning: " + super().__str__()


class RuleErrors(Exception):
    """All errors of one load or compile, sorted by file and line."""

    def __init__(self, errors: Iterable[RuleError]) -> None:
        # Sort first, then cut: the operator sees the first ERROR_LIMIT by file and line.
        self.errors = sorted(errors, key=RuleError.sort_key)[:ERROR_LIMIT]
        super().__init__(str(self))

    def __iter__(self) -> Iterator[RuleError]:
        return iter(self.errors)

    def __len__(self) -> int:
        return len(self.errors)

    def __str__(self) -> str:
        n = len(self.errors)
        head = "1 error occurred:" if n == 1 else f"{n} errors occurred:"
        return "\n".join([head, *(str(e) for e in self.errors)])


class EngineError(RuntimeError):
    """The rules engine gave no verdict: it timed out, crashed, or no rule fired."""


class AccountError(ValueError):
    """An account's policy state does not fit the rules (unknown category, bad number ...)."""

    def __init__(self, account: str, problems: list[str]) -> None:
        self.account = account
        self.problems = problems
        super().__init__(f"account {account!r}: " + "; ".join(problems))
