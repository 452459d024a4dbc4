"""Typed errors of the policy core.

Every error of the policy core derives from :class:`PolicyError`. The families are kept
apart as OPA keeps ``ast.Error`` apart from ``topdown.Error``:

* :class:`RuleError` / :class:`RuleErrors`: a rule file is wrong. Each error has a stable
  code, the file and line, the JSON path msgspec reported, what was found and what was
  expected. They are collected, sorted and reported together (up to a limit), so an
  operator sees every mistake in one ``callpolicy check`` run.
* :class:`EngineError`: the rules engine failed to give a verdict (timeout, no rule fired).
* :class:`AccountError`: an account's state does not fit the rules.
* :class:`CustomerError`: a request of a customer or an operator that the rules or the
  life cycle of numbers refuse. It carries a stable ``code`` from :data:`REQUEST_CODES`;
  which HTTP status answers it is the server's business (``server/errors.py``).
* ``NumberError`` (``numbers.py``) and ``StoreError`` (``store/``) derive from it too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from policy.rules.model import RuleRef

__all__ = [
    "ERROR_LIMIT",
    "REQUEST_CODES",
    "AccountError",
    "CustomerError",
    "EngineError",
    "PolicyError",
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


class PolicyError(Exception):
    """The root of every error the policy core raises."""


class RuleError(PolicyError):
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

    def under(self, directory: str) -> RuleError:
        """This error with ``file`` as a path under ``directory`` (one an operator can open).

        Rule files are named relative to the rules directory (``blocks.toml``), so API
        answers never carry the server's paths; the CLI joins the directory back on.
        """
        file = os.path.join(directory, self.file)
        return type(self)(self.code, file, self.line, self.path, self.found, self.expected)


class RuleWarning(RuleError):
    """A located finding that does not stop the rules from loading."""

    def __str__(self) -> str:
        return "warning: " + super().__str__()


class RuleErrors(PolicyError):
    """All errors of one load or compile, sorted by file and line."""

    def __init__(self, errors: Iterable[RuleError]) -> None:
        # Sort first, then cut: the operator sees the first ERROR_LIMIT by file and line.
        self.errors = sorted(errors, key=RuleError.sort_key)[:ERROR_LIMIT]
        super().__init__(str(self))

    def __iter__(self) -> Iterator[RuleError]:
        return iter(self.errors)

    def __len__(self) -> int:
        return len(self.errors)

    def under(self, directory: str) -> RuleErrors:
        """The same errors with every file as a path under ``directory`` (RuleError.under)."""
        return RuleErrors(e.under(directory) for e in self.errors)

    def __str__(self) -> str:
        n = len(self.errors)
        head = "1 error occurred:" if n == 1 else f"{n} errors occurred:"
        return "\n".join([head, *(str(e) for e in self.errors)])


class EngineError(PolicyError, RuntimeError):
    """The rules engine gave no verdict: it timed out, crashed, or no rule fired."""


class AccountError(PolicyError, ValueError):
    """An account's policy state does not fit the rules (unknown category, bad number ...)."""

    def __init__(self, account: str, problems: list[str]) -> None:
        self.account = account
        self.problems = problems
        super().__init__(f"account {account!r}: " + "; ".join(problems))


#: Stable codes of refused requests, by kind of refusal. Never rename one: clients match
#: on them. ``server/errors.py`` maps each to an HTTP status (a test holds the two equal).
REQUEST_CODES: dict[str, frozenset[str]] = {
    # The request names something malformed or impossible.
    "invalid": frozenset(
        {
            "invalid_target",
            "invalid_site",
            "invalid_number",
            "invalid_block_size",
            "invalid_proof",
            "invalid_presentation",
            "unknown_municipality",
            "invalid_login",
            "invalid_password",
            "invalid_user",
        }
    ),
    # The request names something that does not exist.
    "not_found": frozenset({"unknown_block", "unknown_holding"}),
    # The request is well-formed but the state or the contract does not allow it now.
    "conflict": frozenset(
        {
            "not_liftable",
            "not_blocked",
            "quote_changed",
            "move_outside_local_network",
            "outside_ortsnetz",
            "site_required",
            "proof_required",
            "port_date_not_reached",
            "invalid_transition",
            "block_size_fixed",
            "number_taken",
            "npn_in_use",
            "npn_not_active",
            "not_active",
            "not_suspended",
            "already_suspended",
        }
    ),
    # Numbers and the NPN are the operator's (clauses 9.1, 9.2): a customer may not.
    "forbidden": frozenset({"operator_only"}),
}


class CustomerError(PolicyError):
    """A request the rules or the number life cycle refuse (``code`` in REQUEST_CODES)."""

    def __init__(
        self, code: str, message: str, field: str = "", rule: RuleRef | None = None
    ) -> None:
        assert any(code in codes for codes in REQUEST_CODES.values()), code
        self.code = code
        self.message = message
        self.field = field
        self.rule = rule
        super().__init__(message)

    @property
    def kind(self) -> str:
        """``invalid``, ``not_found``, ``conflict`` or ``forbidden``."""
        return next(k for k, codes in REQUEST_CODES.items() if self.code in codes)
