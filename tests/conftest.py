"""Fixtures shared by every test: the shipped rules, compiled once per session."""

from __future__ import annotations

import pathlib
import shutil

import pytest

from policy import RuleSet, Snapshot, compile_dir, load_rules

ROOT = pathlib.Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"


@pytest.fixture(scope="session")
def rules() -> RuleSet:
    """The shipped rules, loaded."""
    return load_rules(str(RULES))


@pytest.fixture(scope="session")
def snapshot() -> Snapshot:
    """The shipped rules, compiled (the engine runs in a child process, as in production)."""
    return compile_dir(str(RULES))


@pytest.fixture
def rules_copy(tmp_path: pathlib.Path) -> pathlib.Path:
    """A writable copy of the shipped rule files (without the operator test cases)."""
    target = tmp_path / "rules"
    target.mkdir()
    for f in RULES.glob("*.toml"):
        shutil.copy(f, target / f.name)
    return target
