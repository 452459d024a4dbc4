"""Seed the embedded store for `make run`: a demo account (if missing) on a Berlin site.

The SIP edge's config/edge.toml maps the trunk 127.0.0.2 to this account, so a PBX (or
sipp) on that address can place calls at once. Idempotent: an existing account is kept.
"""

from __future__ import annotations

import sys
import time

from policy import load_rules
from policy.accounts import Account
from policy.customer import resolve_site
from policy.model import NumberRange
from policy.store import AccountExists, open_store


def main(store_url: str, rules_dir: str) -> int:
    """Create the demo account unless it exists."""
    rules = load_rules(rules_dir)
    store = open_store(store_url)
    try:
        site = resolve_site(rules, "Unter den Linden 1, 10117 Berlin", "11000000", "030")
        account = Account(
            id="demo",
            name="Demo GmbH",
            npn="4930123456",
            number_blocks=(NumberRange("4930123450", "4930123459"),),
            site=site,
        )
        try:
            store.create_account(account, now=time.time())
            print("seeded account 'demo' (NPN +4930123456, site Berlin)")
        except AccountExists:
            print("account 'demo' exists")
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
