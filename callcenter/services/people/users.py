"""Panel users: creation, password hashing and checking."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from callcenter.models import Role, User

MIN_PASSWORD_LENGTH = 8


class UserError(ValueError):
    pass


def create_user(session: Session, *, username: str, password: str, role: str | Role,
                display_name: str = "", default_interface: str | None = None) -> User:
    username = username.strip()
    if not username:
        raise UserError("username must not be empty")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    try:
        role = Role(role)
    except ValueError as exc:
        raise UserError(f"unknown role {role!r}; choose one of {[r.value for r in Role]}") from exc
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError(f"user {username!r} already exists")
    user = User(username=username, password_hash=generate_password_hash(password), role=role,
                display_name=display_name or username, default_interface=default_interface)
    session.add(user)
    session.flush()
    return user


def set_password(user: User, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password must be at least {MIN_PASSWORD_LENGTH} characters")
    user.password_hash = generate_password_hash(password)


def verify_password(user: User, password: str) -> bool:
    return check_password_hash(user.password_hash, password)
