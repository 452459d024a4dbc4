"""Seed the embedded store for `make run`: a demo account (if missing) on a Berlin site,
and, given a file name, web logins for it (if the store has none).

The SIP edge's config/edge.toml maps the trunk 127.0.0.2 to this account, so a PBX (or
sipp) on that address can place calls at once. The web logins (clause 5.1: the
Telefonie-Konto at /web/) are ``operator``, ``demo-admin`` and ``demo-employee`` with
random passwords, written to the file (git-ignored var/) once. Idempotent: an existing
account and existing logins are kept.
"""

from __future__ import annotations

import os
import secrets
import sys
import time

from policy import (
    Account,
    AccountExists,
    RuleSet,
    SiteProof,
    Store,
    activate,
    assign,
    load_rules,
    new_user,
    open_store,
    resolve_site,
    set_npn,
)

#: Who the audit trail names for the seeded numbers.
SEEDER = "seed_demo"


DEMO_LOGINS = (
    ("operator", "operator", None),
    ("demo-admin", "admin", "demo"),
    ("demo-employee", "employee", "demo"),
)


def seed_logins(store: Store, logins_file: str) -> None:
    """Create the demo web logins unless the store has operator or demo logins already."""
    if store.list_users(None) or store.list_users("demo"):
        print(f"web logins exist (passwords of the demo ones in {logins_file})")
        return
    lines = []
    for login, role, account in DEMO_LOGINS:
        password = secrets.token_urlsafe(12)
        store.create_user(new_user(login, role, account, password, time.time(), SEEDER))  # type: ignore[arg-type]
        lines.append(f"{login}\t{role}\t{password}\n")
    fd = os.open(logins_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.writelines(lines)
    print(f"created web logins operator, demo-admin, demo-employee (passwords in {logins_file})")


def main(store_url: str, rules_dir: str, logins_file: str = "") -> int:
    """Create the demo account unless it exists; given a file, the web logins too."""
    rules = load_rules(rules_dir)
    store = open_store(store_url)
    try:
        _demo_account(store, rules)
        if logins_file:
            seed_logins(store, logins_file)
    finally:
        store.close()
    return 0


def _demo_account(store: Store, rules: RuleSet) -> None:
    """The demo account with its numbers, unless it exists."""
    site = resolve_site(rules, "Unter den Linden 1, 10117 Berlin", "11000000", "030")
    now = time.time()
    try:
        store.create_account(Account(id="demo", name="Demo GmbH", site=site), now)
    except AccountExists:
        print("account 'demo' exists")
        return
    # Numbers go through their life cycle as an operator's would (clauses 9.2, 9.3):
    # a block of 10 in the site's Ortsnetz, activated with a proof, then the NPN.
    block = "4930123450-4930123459"
    proof = SiteProof(kind="handelsregister", reference="demo", verified_by=SEEDER, verified_at=now)
    store.apply("demo", lambda a: assign(a, "+4930123450", "+4930123459", now, SEEDER), now)
    store.apply("demo", lambda a: activate(a, block, now, SEEDER, proof), now)
    store.apply("demo", lambda a: set_npn(a, "+4930123456", now, SEEDER), now)
    print("seeded account 'demo' (numbers +4930123450..59 active, NPN +4930123456, Berlin)")


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:4]))
