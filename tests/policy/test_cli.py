"""The CLI names rule files under the directory it was given (paths an operator can open).

The policy core names rule files relative to the rules directory (``blocks.toml``), so API
answers carry no server paths; ``callpolicy`` joins the directory back on.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from policy.cli import main


def test_check_names_errors_under_the_rules_directory(
    rules_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (rules_copy / "blocks.toml").open("a", encoding="utf-8") as fh:
        fh.write('\n[[block]]\nid = "x"\nreason = "operator_block"\nprefixes = ["09OO"]\n')

    assert main(["check", str(rules_copy)]) == 1

    err = capsys.readouterr().err
    assert f"\n{rules_copy / 'blocks.toml'}:" in err, err
    assert main(["dump", str(rules_copy)]) == 1
    assert f"\n{rules_copy / 'blocks.toml'}:" in capsys.readouterr().err


def test_explain_names_rules_under_the_rules_directory(
    rules_copy: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", "09001 123456", "--rules", str(rules_copy)]) == 0

    out = capsys.readouterr().out
    assert f"rule:     premium-rate ({rules_copy / 'blocks.toml'}:13)" in out, out
