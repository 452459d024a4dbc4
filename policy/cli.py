"""``callpolicy``: the operator's command line (check, compile, explain, test, dump, diff).

Modelled on Kamailio's mtree RPCs: validate and compile rule files, ask why a number is
blocked, run operator test cases, print the published block list, replay a decision log
against new rules. Every command that prints data takes ``--json`` (errors then come as
JSON on stdout too). Exit codes: 0 success, 1 the rules (or the cases) are wrong or
``diff`` found answers that change, 2 usage errors: bad arguments, a rules directory
that does not exist, a dial string ``explain`` finds no number in.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import sys
import tomllib
from collections.abc import Sequence

import msgspec

from policy.compiler.compile import Snapshot, compile_dir
from policy.compiler.explain import Explanation, explain
from policy.compiler.reference import decide_direct
from policy.compiler.whatif import diff
from policy.errors import AccountError, EngineError, RuleErrors
from policy.percall.account import compile_account
from policy.percall.decision_log import read_replay_keys
from policy.percall.snapshot_file import load_snapshot, save_snapshot
from policy.rules.cases import run_cases
from policy.rules.load import load_rules
from policy.rules.model import AccountPolicy, Call, RuleRef
from policy.rules.published import published_blocks, to_csv

__all__ = ["main"]

DEFAULT_RULES = "rules"
#: Exit status of a usage error (argparse's too).
USAGE = 2


class UsageError(Exception):
    """The command cannot run as asked (exit 2): the message says why."""


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


def _print_json(data: object) -> None:
    print(msgspec.json.format(msgspec.json.encode(data).decode()))


def _rule_errors_json(exc: RuleErrors) -> dict[str, object]:
    """``{"ok": false, "errors": [...]}``: each error's code, place, found and expected."""
    errors = [
        {"code": e.code, "file": e.file, "line": e.line, "path": e.path}
        | {"found": e.found, "expected": e.expected}
        for e in exc
    ]
    return {"ok": False, "errors": errors}


def _rules_dir(directory: str) -> str:
    """``directory`` if it is one; otherwise a UsageError saying so (not 10 missing files)."""
    if not os.path.isdir(directory):
        what = "is not a directory" if os.path.exists(directory) else "does not exist"
        raise UsageError(f"rules directory {directory} {what}")
    return directory


def _version() -> str:
    try:
        return importlib.metadata.version("callpolicy")
    except importlib.metadata.PackageNotFoundError:  # run from a tree that is not installed
        return "unknown"


def _compile(directory: str) -> Snapshot:
    """compile_dir(); its rule errors name paths under ``directory``, ready to open."""
    _rules_dir(directory)
    try:
        return compile_dir(directory)
    except RuleErrors as exc:  # files are named relative to the directory (load.py)
        raise exc.under(directory) from None


def _where(rule: RuleRef, directory: str) -> str:
    """``id (path:line)`` with the rule's file under ``directory``; without a line, the id."""
    if not rule.line:
        return rule.id
    return f"{rule.id} ({os.path.join(directory, rule.file)}:{rule.line})"


def _snapshot(args: argparse.Namespace) -> Snapshot:
    if getattr(args, "snapshot", None):
        return load_snapshot(args.snapshot)
    return _compile(args.rules)


def cmd_check(args: argparse.Namespace) -> int:
    """Validate a rules directory and compile it through the engine; report every error."""
    snap = _compile(args.rules_dir)
    warnings = [str(w.under(args.rules_dir)) for w in snap.rules.warnings]
    for warning in warnings:
        print(warning, file=sys.stderr)
    r = snap.rules
    if args.json:
        _print_json(
            {
                "ok": True,
                "directory": args.rules_dir,
                "categories": len(r.plan.category),
                "blocks": len(r.blocks.block),
                "exceptions": len(r.blocks.exception),
                "classes": len(snap.classes),
                "prefixes": len(snap.trie),
                "revision": snap.revision,
                "warnings": warnings,
            }
        )
        return 0
    print(
        f"ok: {args.rules_dir}: {len(r.plan.category)} categories, {len(r.blocks.block)} blocks, "
        f"{len(r.blocks.exception)} exceptions, {len(snap.classes)} classes, "
        f"{len(snap.trie)} prefixes, revision {snap.revision[:12]}"
    )
    return 0


def cmd_compile(args: argparse.Namespace) -> int:
    """Compile a rules directory into a snapshot file."""
    snap = _compile(args.rules_dir)
    os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)  # var/ on a fresh checkout
    save_snapshot(snap, args.output)
    if args.json:
        stages = dict(snap.stages)
        data = {"output": args.output, "revision": snap.revision, "prefixes": len(snap.trie)}
        _print_json({**data, "stages": stages})
        return 0
    print(f"wrote {args.output}: revision {snap.revision[:12]}, {len(snap.trie)} prefixes")
    if args.explain_stages:
        for stage, seconds in snap.stages.items():
            print(f"  {stage:<18} {seconds * 1000:9.2f} ms")
    return 0


def _account(path: str | None) -> AccountPolicy:
    if not path:
        return AccountPolicy(account="cli")
    with open(path, "rb") as fh:
        data = tomllib.load(fh) if path.endswith(".toml") else msgspec.json.decode(fh.read())
    return msgspec.convert(data, AccountPolicy)


def _print_explanation(e: Explanation, directory: str) -> None:
    d = e.decision
    print(f"number:   {e.dial} -> {d.number or '(not a number)'}")
    print(f"verdict:  {d.verdict} ({d.reason})")
    if d.category:
        print(
            f"category: {d.category}; country {e.country or '-'}; "
            f"matched prefix {e.matched_prefix or '(root)'}"
        )
    if d.rule:
        print(f"rule:     {_where(d.rule, directory)}")
    if e.customer_blocks:
        print("account:  blocked by its " + ", ".join(str(m) for m in e.customer_blocks))
    if d.sip:
        print(f"sip:      {d.sip.status} {d.sip.phrase}; Reason: Q.850;cause={d.sip.cause}")
    if d.route:
        print(f"route:    {d.route}")
    if d.identity:
        print(f"identity: {d.identity.number} ({d.identity.source})")
    print("chain:")
    for s in e.steps:
        rule = f"  [{_where(s.rule, directory)}]" if s.rule else ""
        print(f"  {s.outcome:<14} {s.step:<22} {s.note}{rule}")


def _no_number(dial: str, reason: str) -> int:
    """Exit status of ``explain`` for a dial string with no callable number in it."""
    print(f"callpolicy explain: {dial!r} is not a callable number ({reason})", file=sys.stderr)
    return USAGE


def cmd_explain(args: argparse.Namespace) -> int:
    """Decide one number and show the chain of rules considered.

    A dial string that is not a callable number (invalid, incomplete, a carrier
    selection prefix) is explained like any other, and the exit status is 2.
    """
    snap = _snapshot(args)
    policy = _account(args.account_file)
    call = Call(to=args.number, from_number=args.from_number or "")
    if args.no_index:
        d = decide_direct(snap.rules, call, policy)
        print(msgspec.json.encode(d).decode() if args.json else d)
        return 0 if d.number else _no_number(args.number, d.reason)
    e = explain(snap, call, compile_account(snap, policy))
    if args.json:
        _print_json(e)
    else:
        _print_explanation(e, snap.rules.directory)
    return 0 if e.decision.number else _no_number(args.number, e.decision.reason)


def cmd_test(args: argparse.Namespace) -> int:
    """Run the operator test cases in RULES_DIR/tests."""
    snap = _compile(args.rules_dir)
    directory = args.cases or os.path.join(args.rules_dir, "tests")
    results = run_cases(snap, directory)
    failed = [r for r in results if not r.ok]
    code = 1 if failed or not results else 0
    if args.json:
        shown = results if args.verbose else failed
        cases = [
            {"file": r.file, "line": r.line, "note": r.case.note, "ok": r.ok}
            | {"failures": list(r.failures)}
            for r in shown
        ]
        passed = len(results) - len(failed)
        _print_json({"ok": code == 0, "passed": passed, "failed": len(failed), "cases": cases})
        return code
    for r in failed:
        print(f"{r.file}:{r.line}: FAIL {r.case.note}: " + "; ".join(r.failures))
    if args.verbose:
        for r in results:
            if r.ok:
                print(f"{r.file}:{r.line}: ok {r.case.note}")
    print(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    return code


def cmd_dump(args: argparse.Namespace) -> int:
    """Print the published list of operator blocks (clause 9.5)."""
    try:
        rules = load_rules(_rules_dir(args.rules_dir))
    except RuleErrors as exc:
        raise exc.under(args.rules_dir) from None
    entries = published_blocks(rules)
    if args.format == "csv" and not args.json:
        sys.stdout.write(to_csv(entries))
    else:
        _print_json(entries)
    return 0


def _accounts(store_url: str | None) -> dict[str, AccountPolicy]:
    """Every account's policy as the store holds it now (none offline)."""
    if not store_url:
        return {}
    from policy.state.store import open_store

    store = open_store(store_url)
    try:
        accounts = (store.get_account(a) for a in store.list_accounts())
        return {a.id: a.policy() for a in accounts if a is not None}
    finally:
        store.close()


def cmd_diff(args: argparse.Namespace) -> int:
    """Replay a decision log against two rule sets; exit 1 when any answer changes."""
    for path in args.log:
        if not os.path.isfile(path):
            raise UsageError(f"decision log {path} does not exist")
    old, new = _compile(args.old_rules), _compile(args.new_rules)
    report = diff(old, new, read_replay_keys(args.log), _accounts(args.store))
    if args.json:
        _print_json(report)
    else:
        print(
            f"{report.lines:,} log lines, {report.replayed:,} replayed ({report.distinct:,} "
            f"distinct), {report.changed:,} would change, {report.uncertain:,} uncertain "
            f"(masked digits decide) - rules {old.revision[:12]} -> {new.revision[:12]}"
        )
        for g in report.groups:
            print(f"{g.count:>10,}  {g.old}\n{'':>10}  -> {g.new}")
            print(f"{'':>10}  e.g. {', '.join(g.examples)}")
    return 1 if report.changed else 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    p = argparse.ArgumentParser(prog="callpolicy", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"callpolicy {_version()}")
    sub = p.add_subparsers(dest="command", required=True)
    # Every command prints data, so every command takes --json.
    json_flag = argparse.ArgumentParser(add_help=False)
    json_flag.add_argument("--json", action="store_true", help="machine-readable output")

    c = sub.add_parser("check", help="validate rules and report every error", parents=[json_flag])
    c.add_argument("rules_dir", metavar="RULES_DIR")
    c.set_defaults(func=cmd_check)

    c = sub.add_parser("compile", help="compile rules into a snapshot file", parents=[json_flag])
    c.add_argument("rules_dir", metavar="RULES_DIR")
    c.add_argument("-o", "--output", required=True, metavar="FILE")
    c.add_argument("--explain-stages", action="store_true", help="print per-stage timings")
    c.set_defaults(func=cmd_compile)

    c = sub.add_parser(
        "explain", help="why is this number blocked (or allowed)?", parents=[json_flag]
    )
    c.add_argument("number", metavar="NUMBER")
    src = c.add_mutually_exclusive_group()
    src.add_argument("--rules", default=DEFAULT_RULES, metavar="DIR", help="rules directory")
    src.add_argument("--snapshot", metavar="FILE", help="a compiled snapshot file")
    c.add_argument("--account-file", metavar="F", help="account policy as TOML or JSON")
    c.add_argument("--from", dest="from_number", metavar="N", help="calling number (UPN)")
    c.add_argument("--no-index", action="store_true", help="bypass the trie: ask the engine")
    c.set_defaults(func=cmd_explain)

    c = sub.add_parser(
        "test", help="run operator test cases (RULES_DIR/tests/*.toml)", parents=[json_flag]
    )
    c.add_argument("rules_dir", metavar="RULES_DIR")
    c.add_argument("--cases", metavar="DIR", help="cases directory (default RULES_DIR/tests)")
    c.add_argument("-v", "--verbose", action="store_true", help="list passing cases too")
    c.set_defaults(func=cmd_test)

    c = sub.add_parser(
        "dump", help="print the published list of operator blocks", parents=[json_flag]
    )
    c.add_argument("rules_dir", metavar="RULES_DIR", nargs="?", default=DEFAULT_RULES)
    c.add_argument("--format", choices=("json", "csv"), default="json", help="--json: json")
    c.set_defaults(func=cmd_dump)

    c = sub.add_parser(
        "diff",
        help="what would new rules change? replay a decision log (exit 1: something changes)",
        parents=[json_flag],
    )
    c.add_argument("old_rules", metavar="OLD_RULES")
    c.add_argument("new_rules", metavar="NEW_RULES")
    c.add_argument(
        "--log",
        action="append",
        required=True,
        metavar="FILE",
        help="decision log (JSON lines); repeat for rotated files, oldest first",
    )
    c.add_argument("--store", metavar="URL", help="decide for the accounts as stored now")
    c.set_defaults(func=cmd_diff)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``callpolicy`` command."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except RuleErrors as exc:
        if args.json:
            _print_json(_rule_errors_json(exc))
        return _fail(str(exc))
    except UsageError as exc:
        if args.json:
            _print_json({"ok": False, "error": str(exc)})
        _fail(f"callpolicy {args.command}: {exc}")
        return USAGE
    except (AccountError, EngineError, ValueError, OSError) as exc:
        if args.json:
            _print_json({"ok": False, "error": str(exc)})
        return _fail(f"callpolicy {args.command}: {exc}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
