"""What both backends share for web logins (clause 5.1): codecs and the update check."""

from __future__ import annotations

import msgspec

from policy.state.users import User, session_decoder, user_decoder

from .base import UserChange

__all__ = ["changed_user", "decode_session", "decode_user", "encode", "validate_user"]

encode = msgspec.json.Encoder().encode
"""Encode a User or WebSession to JSON bytes."""
decode_user = user_decoder.decode
"""Decode a User doc (checks the login pattern)."""
decode_session = session_decoder.decode
"""Decode a WebSession doc."""


def validate_user(user: User) -> User:
    """Round-trip through the decoder: ``Meta`` constraints (the login pattern) hold for
    stored docs, as constructing a Struct does not check them."""
    return decode_user(encode(user))


def changed_user(current: User, change: UserChange) -> User:
    """``change`` applied; a login keeps its name, account and role (an admin may not turn
    an employee into an admin of its account, nor move it to another account)."""
    new = validate_user(change(current))
    if (new.login, new.account, new.role) != (current.login, current.account, current.role):
        raise ValueError(
            f"a change of login {current.login!r} must not alter its name, account or role"
        )
    return new
