"""Web logins for tests (clause 5.1): seed an account's admin and employee, and an operator.

Used by the Litestar-client tests (tests/server/test_web_*.py) and the browser tests
(tests/web/); docs/web.md lists the pages. Hashes are argon2id with cheap parameters (the
parameters live in each hash, so the server verifies them as any other), which keeps a
login about a millisecond instead of a tenth of a second.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from argon2 import PasswordHasher

from policy import Role, Store, UserExists, new_user

__all__ = ["FAST_HASHER", "OPERATOR_LOGIN", "WebLogin", "seed_web_account"]

FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
"""argon2id with test-only parameters (never for real passwords)."""

OPERATOR_LOGIN = "operator"


@dataclass(frozen=True)
class WebLogin:
    """A login the tests may use: its name, its (test-only) password, role and account."""

    login: str
    password: str
    role: str
    account: str | None


def _add(store: Store, login: WebLogin, now: float) -> None:
    role: Role = login.role  # type: ignore[assignment]
    user = new_user(login.login, role, login.account, login.password, now, "tests", FAST_HASHER)
    # Seeded before: the operator is shared by every account of a store.
    with contextlib.suppress(UserExists):
        store.create_user(user)


def seed_web_account(store: Store, account: str, *, now: float = 0.0) -> dict[str, WebLogin]:
    """Create ``<account>-admin``, ``<account>-employee`` and ``operator`` (once per store)
    for the existing ``account``; return them by role name.

    Passwords are ``<login>-password`` (test-only). Idempotent.
    """
    logins = {
        "admin": WebLogin(f"{account}-admin", f"{account}-admin-password", "admin", account),
        "employee": WebLogin(
            f"{account}-employee", f"{account}-employee-password", "employee", account
        ),
        "operator": WebLogin(OPERATOR_LOGIN, "operator-password", "operator", None),
    }
    for login in logins.values():
        _add(store, login, now)
    return logins
