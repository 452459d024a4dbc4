"""Operator test cases (``rules/tests/*.toml``): dial string and account -> expectation.

Operators write these next to the rules and run them with ``callpolicy test``; the same
loader and the same decide() the edge uses answer them, like OPA's YAML test corpus.
"""

from __future__ import annotations

import glob
import os

import msgspec

from policy.compiler.compile import Snapshot
from policy.errors import AccountError, RuleError, RuleErrors
from policy.percall.account import compile_account
from policy.percall.authorize import decide
from policy.rules._decode import Source, decode_toml, located
from policy.rules.model import AccountPolicy, Call, Decision, OperatorCase, OperatorCasesFile

__all__ = ["CaseResult", "load_cases", "run_cases"]

#: The account a case uses when it names none: no blocks, no lifts, Berlin area code.
PLAIN = AccountPolicy(account="plain", npn="+4930123456", area_code="30")


class CaseResult(msgspec.Struct, frozen=True):
    """One case's outcome."""

    file: str
    line: int
    case: OperatorCase
    decision: Decision
    failures: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """Whether every expectation held."""
        return not self.failures


def load_cases(directory: str) -> list[tuple[Source, OperatorCasesFile]]:
    """Decode every ``*.toml`` in ``directory`` (raises RuleErrors listing every mistake)."""
    errors: list[RuleError] = []
    files = []
    for path in sorted(glob.glob(os.path.join(directory, "*.toml"))):
        with open(path, encoding="utf-8") as fh:
            source = Source(path, fh.read())
        decoded = decode_toml(source, OperatorCasesFile, errors)
        if decoded is not None:
            files.append((source, decoded))
    if errors:
        raise RuleErrors(errors)
    return files


def run_cases(snap: Snapshot, directory: str) -> list[CaseResult]:
    """Run every case in ``directory`` against ``snap``."""
    results = []
    errors: list[RuleError] = []
    for source, cases in load_cases(directory):
        accounts = {"plain": PLAIN, **cases.account}
        compiled = {}
        for name, policy in accounts.items():
            try:
                compiled[name] = compile_account(snap, policy)
            except AccountError as exc:
                errors.append(
                    located(
                        source, "rule_test_error", f"$.account.{name}", str(exc), "a valid account"
                    )
                )
        for i, case in enumerate(cases.case):
            path = f"$.case[{i}]"
            if case.account not in compiled:
                if case.account not in accounts:
                    errors.append(
                        located(
                            source,
                            "rule_test_error",
                            f"{path}.account",
                            repr(case.account),
                            "an account defined in this file, or 'plain'",
                        )
                    )
                continue
            d = decide(
                snap, Call(to=case.dial, from_number=case.from_number), compiled[case.account]
            )
            failures = []
            if d.verdict != case.verdict:
                failures.append(f"verdict {d.verdict!r}, expected {case.verdict!r}")
            if case.reason is not None and d.reason != case.reason:
                failures.append(f"reason {d.reason!r}, expected {case.reason!r}")
            if case.route is not None and d.route != case.route:
                failures.append(f"route {d.route!r}, expected {case.route!r}")
            got_identity = d.identity.source if d.identity else None
            if case.identity is not None and got_identity != case.identity:
                failures.append(f"identity {got_identity!r}, expected {case.identity!r}")
            line = located(source, "rule_test_error", path, "", "").line
            results.append(CaseResult(source.file, line, case, d, tuple(failures)))
    if errors:
        raise RuleErrors(errors)
    return results
