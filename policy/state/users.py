"""Web logins of the Telefonie-Konto (clause 5.1): users, their passwords and sessions.

Clause 5.1: the customer administers the service with a PC and a web browser; each user
has an administrator or an employee profile and logs in with a user name and a password.
Operators log in the same way (no account). API keys stay for machines
(``server/auth.py``).

Passwords are kept only as argon2id hashes (argon2-cffi's defaults, RFC 9106's second
recommended profile); the hash string carries its parameters, so a hash made with other
parameters (the tests' cheap ones) still verifies. Sessions are stored by the SHA-256 of
their random token, never the token. Time is passed in, never read here.
"""

from __future__ import annotations

import re
from typing import Annotated

import msgspec
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from msgspec import Meta, Struct

from policy.errors import CustomerError
from policy.state.accounts import Role

__all__ = [
    "MAX_PASSWORD",
    "MIN_PASSWORD",
    "User",
    "WebSession",
    "check_password",
    "hash_password",
    "new_user",
    "normalise_login",
    "upgraded_hash",
    "verify_password",
]

#: Passwords shorter than this are refused (BSI IT-Grundschutz ORP.4: length over rules).
MIN_PASSWORD = 10
#: Longer passwords are refused: hashing megabytes would be a denial of service.
MAX_PASSWORD = 256

_LOGIN = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,63}$")

_HASHER = PasswordHasher()  # argon2id, t=3, m=64 MiB, p=4: about 0.1 s here
#: Verified when the login name is unknown, so both answers take as long (no enumeration).
_DUMMY_HASH = _HASHER.hash("not a password of anyone")


class User(Struct, frozen=True, kw_only=True):
    """One web login (clause 5.1: administrator or employee; or an operator)."""

    login: Annotated[str, Meta(pattern=_LOGIN.pattern)]
    """The user name, normalised to lower case; unique across the store."""
    account: str | None = None
    """The account it administers or reads; None for an operator."""
    role: Role
    password_hash: str
    """argon2id hash string (``$argon2id$v=19$m=...``), never the password."""
    disabled: bool = False
    """A disabled login cannot log in; its sessions were ended when it was disabled."""
    created_at: float = 0.0
    password_changed_at: float = 0.0
    created_by: str = ""
    """Who created it: a login name, or ``cli``."""


class WebSession(Struct, frozen=True, kw_only=True):
    """A logged-in browser: stored under the SHA-256 of its cookie's token."""

    login: str
    account: str | None
    role: Role
    csrf: str
    """The token every form of this session must send back (``csrf_token``)."""
    created_at: float
    expires_at: float
    """When it ends unless used again: the idle deadline, never past ``absolute_at``."""
    absolute_at: float
    """When it ends however much it is used (a stolen cookie does not live forever)."""
    lang: str = "de"


def normalise_login(login: str) -> str:
    """The stored form of a user name (trimmed, lower case); CustomerError if malformed."""
    name = login.strip().lower()
    if not _LOGIN.fullmatch(name):
        raise CustomerError(
            "invalid_login",
            "user name: 2 to 64 characters of a-z 0-9 . _ @ -, starting with a letter or digit",
            "login",
        )
    return name


def check_password(password: str) -> None:
    """Refuse a password that is too short or too long (CustomerError on ``password``)."""
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise CustomerError(
            "invalid_password",
            f"password: {MIN_PASSWORD} to {MAX_PASSWORD} characters",
            "password",
        )


def hash_password(password: str, hasher: PasswordHasher = _HASHER) -> str:
    """The argon2id hash of ``password`` (checked for length first)."""
    check_password(password)
    return hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches; for an unknown user (None) as slow, and False."""
    if len(password) > MAX_PASSWORD:
        return False
    try:
        ok = _HASHER.verify(password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return ok and password_hash is not None


def upgraded_hash(password_hash: str, password: str) -> str | None:
    """A new hash of ``password`` if ``password_hash`` was made with weaker or older
    argon2 parameters than today's (called after a successful verification, the only time
    the password is known); None when it is current."""
    if not _HASHER.check_needs_rehash(password_hash):
        return None
    return _HASHER.hash(password)


def new_user(
    login: str,
    role: Role,
    account: str | None,
    password: str,
    now: float,
    created_by: str,
    hasher: PasswordHasher = _HASHER,
) -> User:
    """A validated User: operators have no account, admins and employees one (clause 5.1)."""
    if role == "operator" and account is not None:
        raise CustomerError("invalid_user", "an operator login has no account", "account")
    if role != "operator" and not account:
        raise CustomerError("invalid_user", f"an {role} login needs an account", "account")
    return User(
        login=normalise_login(login),
        account=account,
        role=role,
        password_hash=hash_password(password, hasher),
        created_at=now,
        password_changed_at=now,
        created_by=created_by,
    )


user_decoder = msgspec.json.Decoder(User)
session_decoder = msgspec.json.Decoder(WebSession)
