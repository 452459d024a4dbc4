"""Seed the embedded store for `make run`: a demo account (if missing) on a Berlin site.

The SIP edge's config/edge.toml maps the trunk 127.0.0.2 to this account, so a PBX (or
sipp) on that address can place calls at once. Idempotent: an existing account is kept.
"""

from __future__ import annotations

import sys
import time

from policy import (
    Account,
    AccountExists,
    SiteProof,
    activate,
    assign,
    load_rules,
    open_store,
    resolve_site,
    set_npn,
)

#: Who the audit trail names for the seeded numbers.
SEEDER = "seed_demo"


def main(store_url: str, rules_dir: str) -> int:
    """Create the demo account unless it exists."""
    rules = load_rules(rules_dir)
    store = open_store(store_url)
    try:
        site = resolve_site(rules, "Unter den Linden 1, 10117 Berlin", "11000000", "030")
        now = time.time()
        try:
            store.create_account(Account(id="demo", name="Demo GmbH", site=site), now)
        except AccountExists:
            print("account 'demo' exists")
            return 0
        # Numbers go through their life cycle as an operator's would (clauses 9.2, 9.3):
        # a block of 10 in the site's Ortsnetz, activated with a proof, then the NPN.
        block = "4930123450-4930123459"
        proof = SiteProof(
            kind="handelsregister", reference="demo", verified_by=SEEDER, verified_at=now
        )
        store.apply("demo", lambda a: assign(a, "+4930123450", "+4930123459", now, SEEDER), now)
        store.apply("demo", lambda a: activate(a, block, now, SEEDER, proof), now)
        store.apply("demo", lambda a: set_npn(a, "+4930123456", now, SEEDER), now)
        print("seeded account 'demo' (numbers +4930123450..59 active, NPN +4930123456, Berlin)")
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
