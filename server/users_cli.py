"""``python -m server users``: web logins from the command line (clause 5.1).

The first logins must come from somewhere: an operator creates the operators' own and
each account's first administrator here (or on the account's user page); administrators
create their employees on the web. Passwords are read from standard input (the first
line), or asked for twice on a terminal; never taken as an argument, which would leave
them in the shell history and the process list.

    python -m server users add --login anna --role admin --account demo [--store URL]
    python -m server users list [--account ID] [--json]
    python -m server users passwd --login anna
    python -m server users disable --login anna | enable --login anna
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from typing import Any

import msgspec

from policy import CustomerError, User, hash_password, new_user, open_store

__all__ = ["add_user_commands", "read_password"]


def read_password(prompt: str = "password: ") -> str:
    """The password: asked twice on a terminal, else the first line of standard input."""
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("again: ") != first:
            raise ValueError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _refusal(exc: CustomerError) -> ValueError:
    return ValueError(exc.message)


def cmd_add(args: argparse.Namespace) -> int:
    """Create a login; its password from stdin or the terminal."""
    store = open_store(args.store)
    try:
        if args.account is not None and store.get_account(args.account) is None:
            raise ValueError(f"account {args.account!r} does not exist: create it first")
        try:
            user = new_user(
                args.login, args.role, args.account, read_password(), time.time(), "cli"
            )
        except CustomerError as exc:
            raise _refusal(exc) from None
        store.create_user(user)
    finally:
        store.close()
    bound = f" of account {user.account}" if user.account else ""
    sys.stderr.write(f"created {user.role} login {user.login}{bound}\n")
    return 0


def _view(u: User) -> dict[str, Any]:
    """What ``list`` prints of a login: never its hash."""
    return {
        "login": u.login,
        "role": u.role,
        "account": u.account,
        "disabled": u.disabled,
        "created_at": u.created_at,
        "password_changed_at": u.password_changed_at,
    }


def cmd_list(args: argparse.Namespace) -> int:
    """Print the logins of an account (or, without ``--account``, the operators')."""
    store = open_store(args.store)
    try:
        users = store.list_users(args.account)
    finally:
        store.close()
    if args.json:
        sys.stdout.write(msgspec.json.encode([_view(u) for u in users]).decode() + "\n")
        return 0
    for u in users:
        state = "disabled" if u.disabled else "enabled"
        sys.stdout.write(f"{u.login}\t{u.role}\t{u.account or '-'}\t{state}\n")
    return 0


def cmd_passwd(args: argparse.Namespace) -> int:
    """Set a login's password (read as for ``add``); its sessions end."""
    try:
        digest = hash_password(read_password("new password: "))
    except CustomerError as exc:
        raise _refusal(exc) from None
    now = time.time()
    store = open_store(args.store)
    try:
        store.update_user(
            args.login.lower(),
            lambda u: msgspec.structs.replace(u, password_hash=digest, password_changed_at=now),
        )
        store.delete_sessions_of(args.login.lower())
        store.clear_login_failures(f"user:{args.login.lower()}")
    finally:
        store.close()
    sys.stderr.write(f"password of {args.login} set; its sessions ended\n")
    return 0


def _set_disabled(args: argparse.Namespace, disabled: bool) -> int:
    store = open_store(args.store)
    try:
        store.update_user(
            args.login.lower(), lambda u: msgspec.structs.replace(u, disabled=disabled)
        )
        if disabled:
            store.delete_sessions_of(args.login.lower())
    finally:
        store.close()
    sys.stderr.write(f"{args.login} {'disabled' if disabled else 'enabled'}\n")
    return 0


def add_user_commands(sub: Any, store_default: str | None) -> None:
    """Register ``users add|list|passwd|disable|enable`` on the subparsers ``sub``."""
    u = sub.add_parser("users", help="manage web logins (clause 5.1)")
    usub = u.add_subparsers(dest="users_command", required=True)
    a = usub.add_parser("add", help="create a login (password from stdin or the terminal)")
    a.add_argument("--login", required=True)
    a.add_argument("--role", required=True, choices=("operator", "admin", "employee"))
    a.add_argument("--account", metavar="ID", help="the account (admin and employee logins)")
    a.add_argument("--store", default=store_default, metavar="URL")
    a.set_defaults(func=cmd_add)
    ls = usub.add_parser("list", help="list an account's logins (default: the operators')")
    ls.add_argument("--account", metavar="ID")
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.add_argument("--store", default=store_default, metavar="URL")
    ls.set_defaults(func=cmd_list)
    for name, func, what in (
        ("passwd", cmd_passwd, "set a login's password (its sessions end)"),
        ("disable", lambda args: _set_disabled(args, True), "disable a login (sessions end)"),
        ("enable", lambda args: _set_disabled(args, False), "enable a disabled login"),
    ):
        p = usub.add_parser(name, help=what)
        p.add_argument("--login", required=True)
        p.add_argument("--store", default=store_default, metavar="URL")
        p.set_defaults(func=func)
