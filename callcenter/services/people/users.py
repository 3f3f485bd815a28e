"""Panel users: creation, password hashing and checking, what the panel looks up about
its users, and the administrator's audited changes. The sign-in policy is ``signin``."""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from callcenter.models import Role, User
from callcenter.services.people import audit

MIN_PASSWORD_LENGTH = 8
# A username is typed at the sign-in page and on the command line: no spaces.
_USERNAME = re.compile(r"^[^\s/\\]{1,64}$")
# The agent's phone as Asterisk names it in queues.conf and AMI events.
_INTERFACE = re.compile(r"^PJSIP/[A-Za-z0-9_.+-]{1,73}$")


class UserError(ValueError):
    pass


def create_user(session: Session, *, username: str, password: str, role: str | Role,
                display_name: str = "", default_interface: str | None = None) -> User:
    username = username.strip()
    if not username:
        raise UserError("用户名不能为空 (username must not be empty)")
    if not _USERNAME.match(username):
        raise UserError(f"用户名不能包含空格或斜杠 (username {username!r} has spaces or slashes)")
    default_interface = check_interface(default_interface)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"密码至少 {MIN_PASSWORD_LENGTH} 位 (password must be at least {MIN_PASSWORD_LENGTH} characters)")
    try:
        role = Role(role)
    except ValueError as exc:
        raise UserError(f"未知角色 {role!r} (unknown role; choose one of {[r.value for r in Role]})") from exc
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError(f"用户 {username!r} 已存在 (user {username!r} already exists)")
    user = User(username=username, password_hash=generate_password_hash(password), role=role,
                display_name=display_name or username, default_interface=default_interface)
    session.add(user)
    session.flush()
    return user


def check_interface(interface: str | None) -> str | None:
    """The agent's phone as ``PJSIP/<endpoint>`` (None or "" for none)."""
    interface = (interface or "").strip()
    if not interface:
        return None
    if not _INTERFACE.match(interface):
        raise UserError(f"话机须写成 PJSIP/<分机>，例如 PJSIP/agent1001 (got {interface!r})")
    return interface


def set_password(user: User, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"密码至少 {MIN_PASSWORD_LENGTH} 位 (password must be at least {MIN_PASSWORD_LENGTH} characters)")
    user.password_hash = generate_password_hash(password)


def verify_password(user: User, password: str) -> bool:
    return check_password_hash(user.password_hash, password)


# --- what the panel asks about its users ------------------------------------------------

def get_user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def active_user(session: Session, user_id: int, session_version: int | None = None) -> User | None:
    """The user of a panel session: while the account is active and, when the session
    says which version it was opened with, while that is still the user's version
    (signing out, a password reset, a deactivation move it: ``end_sessions``)."""
    user = session.get(User, user_id)
    if user is None or not user.active:
        return None
    if session_version is not None and session_version != user.session_version:
        return None
    return user


def is_active(session: Session, user_id: int, session_version: int | None = None) -> bool:
    """Is this account (still) active, and the session (still) valid? False for an unknown id."""
    row = session.execute(select(User.active, User.session_version).where(User.id == user_id)).first()
    if row is None or not row.active:
        return False
    return session_version is None or session_version == row.session_version


def end_sessions(user: User) -> None:
    """End every open panel session of this user, wherever it is (each carries the
    version it was opened with; the next request or stream check finds it stale)."""
    user.session_version = (user.session_version or 0) + 1


def end_sessions_of(session: Session, user_id: int) -> None:
    user = session.get(User, user_id)
    if user is not None:
        end_sessions(user)


def reset_password(session: Session, user: User, password: str, *, admin_id: int | None) -> None:
    """A new password (set by the user, or by an administrator for them): every open
    session of the user ends, and the audit log says who did it."""
    set_password(user, password)
    end_sessions(user)
    audit.record(session, user_id=admin_id, action=audit.UPDATE, object_type="user", object_id=user.id,
                 detail="password reset" if admin_id != user.id else "password changed")


def change_own_password(session: Session, user_id: int, current: str, new: str) -> User:
    """The user's own change: the current password must be right, and the new one
    different. Ends the user's other sessions (the caller keeps its own)."""
    user = session.get(User, user_id)
    if user is None or not user.active:
        raise UserError("账号不存在或已停用 (no such active user)")
    if not verify_password(user, current):
        raise UserError("当前密码不正确 (the current password is wrong)")
    if current == new:
        raise UserError("新密码不能与当前密码相同 (the new password is the current one)")
    reset_password(session, user, new, admin_id=user.id)
    return user


def admin_reset_password(session: Session, user_id: int, password: str, *, admin_id: int | None) -> User | None:
    """An administrator sets a new password for someone who forgot theirs: every open
    session of that user ends. None when there is no such user."""
    user = session.get(User, user_id)
    if user is None:
        return None
    reset_password(session, user, password, admin_id=admin_id)
    return user


def find_user(session: Session, username: str) -> User | None:
    return session.scalar(select(User).where(User.username == username.strip()))


def list_users(session: Session) -> list[User]:
    """Every panel user, by username (the administrator's list)."""
    return list(session.scalars(select(User).order_by(User.username)))


def display_names(session: Session, ids: Iterable[int]) -> dict[int, str]:
    """Shown name (display name, else username) of each of these users that exists."""
    wanted = set(ids)
    if not wanted:
        return {}
    return {u.id: u.display_name or u.username for u in session.scalars(select(User).where(User.id.in_(wanted)))}


def admin_create_user(session: Session, *, admin_id: int, username: str, password: str, role: str | Role,
                      display_name: str = "", default_interface: str | None = None) -> User:
    """``create_user`` on an administrator's behalf, recorded in the audit log."""
    user = create_user(session, username=username, password=password, role=role, display_name=display_name,
                       default_interface=default_interface)
    audit.record(session, user_id=admin_id, action=audit.CREATE, object_type="user", object_id=user.id,
                 detail=f"{user.username} role={user.role.value}")
    return user


def admin_set_active(session: Session, user_id: int, active: bool, *, admin_id: int) -> User | None:
    """Deactivate or reactivate an account on an administrator's behalf, recorded in the
    audit log; None when there is no such user."""
    user = session.get(User, user_id)
    if user is None:
        return None
    user.active = active
    if not active:
        end_sessions(user)
    audit.record(session, user_id=admin_id, action=audit.UPDATE, object_type="user", object_id=user.id,
                 detail="activated" if active else "deactivated")
    return user
