"""``callpolicy``: --version, --json on every command, and its exit statuses (issue 11)."""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

import pytest

from policy.cli import main

SHIPPED = str(Path(__file__).resolve().parents[2] / "rules")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"callpolicy {importlib.metadata.version('callpolicy')}\n"


@pytest.mark.parametrize("command", ["check", "test", "dump", "compile"])
def test_a_missing_rules_directory_is_named_once(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [command, str(tmp_path / "nope")] + (
        ["-o", str(tmp_path / "s")] * (command == "compile")
    )

    assert main(argv) == 2

    out, err = capsys.readouterr()
    assert err == f"callpolicy {command}: rules directory {tmp_path / 'nope'} does not exist\n"
    assert out == ""


def test_explain_with_a_missing_rules_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", "030555000", "--rules", str(tmp_path), "--json"]) == 1  # no files
    capsys.readouterr()
    assert main(["explain", "030555000", "--rules", str(tmp_path / "x"), "--json"]) == 2
    out, err = capsys.readouterr()
    assert json.loads(out) == {
        "ok": False,
        "error": f"rules directory {tmp_path / 'x'} does not exist",
    }
    assert "does not exist" in err


def test_a_file_is_not_a_rules_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "f").write_text("")
    assert main(["check", str(tmp_path / "f")]) == 2
    assert "is not a directory" in capsys.readouterr().err


@pytest.mark.parametrize("no_index", [False, True])
@pytest.mark.parametrize("dial", ["abc!!", "", "+49 (30) x"])
def test_explain_of_an_invalid_dial_string_exits_2(
    dial: str, no_index: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["explain", dial, "--rules", SHIPPED, "--json"] + ["--no-index"] * no_index

    assert main(argv) == 2

    out, err = capsys.readouterr()
    decision = json.loads(out) if no_index else json.loads(out)["decision"]
    assert decision["reason"] == "invalid_number"
    assert err == f"callpolicy explain: {dial!r} is not a callable number (invalid_number)\n"


def test_explain_of_a_number_exits_0_even_when_blocked(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "09001123456", "--rules", SHIPPED]) == 0
    assert "verdict:  block" in capsys.readouterr().out


def test_check_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", SHIPPED, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True
    assert data["directory"] == SHIPPED
    assert data["prefixes"] > 0
    assert len(data["revision"]) == 64


def test_check_json_reports_located_errors(
    rules_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with (rules_dir / "blocks.toml").open("a", encoding="utf-8") as fh:
        fh.write('\n[[block]]\nid = "x"\nreason = "operator_block"\nprefixes = ["09OO"]\n')

    assert main(["check", str(rules_dir), "--json"]) == 1

    out, err = capsys.readouterr()
    data = json.loads(out)
    assert data["ok"] is False
    [error] = [e for e in data["errors"] if e["found"] == "'09OO'"]
    assert error["file"] == str(rules_dir / "blocks.toml")
    assert error["code"] == "rule_schema_error"
    assert error["line"] > 0
    assert "error occurred" in err


def test_test_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["test", SHIPPED, "--json", "-v"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] is True
    assert data["failed"] == 0
    assert data["passed"] == len(data["cases"]) > 0
    assert all(c["ok"] and c["file"].endswith(".toml") for c in data["cases"])


def test_compile_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "r.snapshot"
    assert main(["compile", SHIPPED, "-o", str(out_file), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["output"] == str(out_file)
    assert out_file.is_file()
    assert "evaluate_classes" in data["stages"]


def test_dump_json_is_the_json_format(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dump", SHIPPED, "--json"]) == 0
    as_flag = capsys.readouterr().out
    assert main(["dump", SHIPPED, "--format", "json"]) == 0
    assert capsys.readouterr().out == as_flag
    assert json.loads(as_flag)[0]["kind"] in {"prefix", "category", "country"}
