"""Fixtures for the rule loader tests (tests/policy/test_load.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

#: The shipped rules directory of the project.
SHIPPED_RULES = Path(__file__).resolve().parents[2] / "rules"


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    """A private copy of the shipped ``rules/*.toml`` (not ``rules/tests/``) to edit."""
    target = tmp_path / "rules"
    target.mkdir()
    sources = sorted(SHIPPED_RULES.glob("*.toml"))
    assert sources, f"no rule files in {SHIPPED_RULES}"
    for source in sources:
        shutil.copyfile(source, target / source.name)
    return target
