"""The account's logins (clause 5.1): administrators manage their employees' logins.

An account's administrator creates, disables, enables and sets the password of the
employee logins of its own account; an operator does the same for administrators and
employees of every account. Employees see no user page (403). Disabling a login or
setting its password ends all its sessions at once, on every node (they are in the
store). Login names are unique across the store, so a taken name says only that.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from policy import (
    CustomerError,
    User,
    UserExists,
    check_password,
    hash_password,
    new_user,
)

from .pages import SECURITY_HEADERS, W, WDep, WebError, customer_error, page

__all__ = ["HANDLERS"]


def _manager(w: W, account_id: str) -> tuple[str, ...]:
    """The roles of logins the user may manage on this account (404/403 otherwise)."""
    w.account(account_id)
    role = w.me().role
    if role == "employee":
        raise WebError(403, "forbidden", w.t("err.employee"))
    return ("admin", "employee") if role == "operator" else ("employee",)


def users_page(
    w: W,
    account_id: FromPath[str],
    *,
    status: int = 200,
    error: tuple[str, str] | None = None,
    notice: str = "",
) -> Template:
    """The account's logins with what the user may do to each."""
    roles = _manager(w, account_id)
    return page(
        w,
        "users.html",
        w.t("title.users"),
        status=status,
        error=error,
        notice=notice,
        nav_account=account_id,
        account_id=account_id,
        users=w.store.list_users(account_id),
        roles=roles,
        form=w.form,
    )


@get("/accounts/{account_id:str}/users", sync_to_thread=False)
def users(w: WDep, account_id: FromPath[str], done: FromQuery[str] = "") -> Template:
    """The user list (administrators and operators)."""
    known = ("user_created", "user_disabled", "user_enabled", "password_set")
    return users_page(w, account_id, notice=w.t(f"done.{done}") if done in known else "")


def _done(account_id: str, what: str) -> Redirect:
    return Redirect(
        f"/web/accounts/{account_id}/users?done={what}", status_code=303, headers=SECURITY_HEADERS
    )


@post("/accounts/{account_id:str}/users", sync_to_thread=True, status_code=200)
def create(w: WDep, account_id: FromPath[str]) -> Response[Any]:
    """Create a login of this account (admins: employees only)."""
    roles = _manager(w, account_id)
    role = w.field("role", 20) or "employee"
    try:
        if role not in roles:
            raise CustomerError("invalid_user", f"role: one of {', '.join(roles)}", "role")
        password = str(w.form.get("password") or "")
        user = new_user(w.field("login", 100), role, account_id, password, w.now, w.me().login)  # type: ignore[arg-type]
        w.store.create_user(user)
    except CustomerError as exc:
        status, code, text = customer_error(w, exc)
        return users_page(w, account_id, status=status, error=(code, text))
    except UserExists:
        text = w.t("err.user_exists")
        return users_page(w, account_id, status=409, error=("user_exists", text))
    return _done(account_id, "user_created")


def _their(w: W, account_id: str, login: str) -> User:
    """The login ``login`` of this account, if the user may manage it (404/403 otherwise)."""
    roles = _manager(w, account_id)
    user = w.store.get_user(login)
    if user is None or user.account != account_id:
        raise WebError(404, "not_found", w.t("err.no_user", login=login))
    if user.role not in roles:
        raise WebError(403, "forbidden", w.t("err.not_your_user"))
    return user


def _set_disabled(w: W, account_id: str, login: str, disabled: bool) -> Redirect:
    user = _their(w, account_id, login)
    w.store.update_user(user.login, lambda u: msgspec.structs.replace(u, disabled=disabled))
    if disabled:
        w.store.delete_sessions_of(user.login)
    return _done(account_id, "user_disabled" if disabled else "user_enabled")


@post("/accounts/{account_id:str}/users/{login:str}/disable", sync_to_thread=True, status_code=303)
def disable(w: WDep, account_id: FromPath[str], login: FromPath[str]) -> Redirect:
    """Disable a login; its sessions end at once."""
    return _set_disabled(w, account_id, login, True)


@post("/accounts/{account_id:str}/users/{login:str}/enable", sync_to_thread=True, status_code=303)
def enable(w: WDep, account_id: FromPath[str], login: FromPath[str]) -> Redirect:
    """Let a disabled login log in again."""
    return _set_disabled(w, account_id, login, False)


@post("/accounts/{account_id:str}/users/{login:str}/password", sync_to_thread=True, status_code=200)
def set_password(w: WDep, account_id: FromPath[str], login: FromPath[str]) -> Response[Any]:
    """Set a new password (the user was locked out, or it leaked); its sessions end."""
    user = _their(w, account_id, login)
    password = str(w.form.get("password") or "")
    try:
        check_password(password)
    except CustomerError as exc:
        status, code, text = customer_error(w, exc)
        return users_page(w, account_id, status=status, error=(code, text))
    digest = hash_password(password)
    now = w.now
    w.store.update_user(
        user.login,
        lambda u: msgspec.structs.replace(u, password_hash=digest, password_changed_at=now),
    )
    w.store.delete_sessions_of(user.login)
    w.store.clear_login_failures(f"user:{user.login}")
    return _done(account_id, "password_set")


HANDLERS = [users, create, disable, enable, set_password]
