"""What-if (policy/compiler/whatif.py): logged decisions replayed against two rule sets."""

from __future__ import annotations

import pathlib

import msgspec
import pytest

from policy import (
    AccountPolicy,
    Call,
    DecisionEventV1,
    Snapshot,
    compile_account,
    compile_dir,
    decide,
    diff,
    event_of,
)


@pytest.fixture(scope="module")
def all_0900(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    """The shipped rules with the whole of 0900 blocked (the one-line change of the README)."""
    root = pathlib.Path(__file__).resolve().parents[2] / "rules"
    target = tmp_path_factory.mktemp("rules")
    for f in root.glob("*.toml"):
        (target / f.name).write_text(f.read_text())
    blocks = target / "blocks.toml"
    blocks.write_text(
        blocks.read_text()
        + '\n[[block]]\nid = "op-4930999"\nreason = "operator_block"\nprefixes = ["+4930999"]\n'
    )
    return compile_dir(str(target))


def _events(snapshot: Snapshot, dials: list[str], masked: int = 0) -> list[DecisionEventV1]:
    acct = compile_account(snapshot, AccountPolicy(account="acme"))
    return [
        event_of(
            decide(snapshot, Call(to=d), acct),
            decision_id=f"n-{i}",
            ts=0.0,
            node="n",
            revision=snapshot.revision,
            account="acme",
            dial=d,
            mask_digits=masked,
        )
        for i, d in enumerate(dials)
    ]


def test_unchanged_rules_change_nothing(snapshot: Snapshot) -> None:
    report = diff(snapshot, snapshot, _events(snapshot, ["+4930999123", "09001 123456", "junk"]))
    assert (report.lines, report.replayed, report.changed, report.groups) == (3, 2, 0, [])


def test_a_new_block_is_grouped_with_counts_and_examples(
    snapshot: Snapshot, all_0900: Snapshot
) -> None:
    dials = ["+4930999123", "+4930999124", "+4930999123", "+4930111222", "110"]
    report = diff(snapshot, all_0900, _events(snapshot, dials))
    assert report.changed == 3 and report.replayed == 5
    (group,) = report.groups
    assert group.old.startswith("allow allowed") and group.new.startswith(
        "block operator_block (op-4930999"
    )
    assert (group.count, group.examples) == (3, ["+4930999123", "+4930999124"])


def test_masked_numbers_that_the_hidden_digits_decide_are_uncertain(
    snapshot: Snapshot, all_0900: Snapshot
) -> None:
    # 4 digits hidden of a long number: the block's prefix is visible, the answer known;
    # of +4930991234 they hide where the block begins: it cannot be told.
    events = _events(snapshot, ["+49309991234567", "+4930991234"], masked=4)
    report = diff(snapshot, all_0900, events)
    assert (report.changed, report.uncertain) == (1, 1)


def test_masked_numbers_are_certain_when_no_fill_changes(snapshot: Snapshot) -> None:
    # 4 hidden digits of 11833 leave "1XXXX": 10000 is a carrier selection, 19999
    # unassigned, but the same rules on both sides change nothing, whatever they are.
    events = _events(snapshot, ["11833", "0180512345"], masked=4)
    assert events[0].number == "491XXXX"
    report = diff(snapshot, snapshot, events)
    assert (report.changed, report.uncertain) == (0, 0)


def test_the_accounts_own_blocks_are_taken_into_account(
    snapshot: Snapshot, all_0900: Snapshot
) -> None:
    events = _events(snapshot, ["+4930999123"])
    own = {"acme": AccountPolicy(account="acme", blocked_prefixes=("+4930",))}
    (group,) = diff(snapshot, all_0900, events, own).groups
    # Blocked before and after, by the account before, by the operator (who goes first) after.
    assert group.old.startswith("block customer_block") and group.new.startswith("block operator")


def test_callpolicy_diff_exits_1_on_changes_and_prints_json(
    snapshot: Snapshot,
    all_0900: Snapshot,
    tmp_path: pathlib.Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from policy.cli import main

    log = tmp_path / "decisions.jsonl"
    lines = [msgspec.json.encode(e) for e in _events(snapshot, ["+4930999123", "+4930111222"])]
    log.write_bytes(b"\n".join(lines) + b"\n")
    old, new = snapshot.rules.directory, all_0900.rules.directory
    assert main(["diff", old, old, "--log", str(log)]) == 0
    capsys.readouterr()
    assert main(["diff", old, new, "--log", str(log), "--json"]) == 1
    report = msgspec.json.decode(capsys.readouterr().out)
    assert (report["lines"], report["changed"]) == (2, 1)
    assert report["groups"][0]["examples"] == ["+4930999123"]
    assert main(["diff", old, new, "--log", str(tmp_path / "missing.jsonl")]) == 2
