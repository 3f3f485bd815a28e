"""The sign-in policy: when a panel user is let in, when an account or an address is
locked, and what the audit log records.

Rules:
- a wrong password, an unknown username and a deactivated account get the same answer,
  and take as long: without an account the password is checked against a dummy hash;
- a key that is locked gets no password check at all, not even with the right password,
  and the same answer whether or not the user exists. Keys are the username and the
  client address, counted in the process by ``throttle.LoginThrottle``;
- a real account also counts its failures in the users table: after
  ``login_max_failures`` of them it is locked for ``login_lockout_s`` seconds
  (``locked_until``), across web workers and restarts;
- a sign-in resets the account's counter and lock and stamps ``last_login_at``;
- every checked attempt is audited (``login`` / ``login_failed``, with the address).

The password hash is deliberately slow, so ``attempt_sign_in`` holds no database
connection while it runs: a wave of sign-ins at shift start must not drain the pool.
It reads in one unit of work, checks the hash outside, and writes the outcome in a
second unit of work; that is why it takes a unit-of-work factory, not a session.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from callcenter.config import Settings
from callcenter.db import utcnow
from callcenter.models import User
from callcenter.services.people import audit, users
from callcenter.services.people.throttle import LoginThrottle

# Checked against when the username does not exist, so both answers take as long.
_DUMMY_HASH = generate_password_hash("not-a-real-password")

UnitOfWork = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True)
class SignIn:
    """What an attempt came to. Signed in: ``user`` is the account as written (detached
    from its session). Otherwise locked when ``locked_s`` > 0 (seconds until the next
    try), else the credentials were invalid."""

    user: User | None = None
    locked_s: float = 0.0

    @property
    def signed_in(self) -> bool:
        return self.user is not None

    @property
    def locked(self) -> bool:
        return self.user is None and self.locked_s > 0


def attempt_sign_in(unit_of_work: UnitOfWork, settings: Settings, throttle: LoginThrottle, *,
                    username: str, password: str, ip: str, now: dt.datetime | None = None) -> SignIn:
    now = now or utcnow()
    user_key, ip_key = f"user:{username.lower()}", f"ip:{ip}"
    with unit_of_work() as session:
        account = _account(session, username)
    locked_s = max(throttle.locked_for(user_key), throttle.locked_for(ip_key))
    if account is not None and account.locked_until is not None and account.locked_until > now:
        locked_s = max(locked_s, (account.locked_until - now).total_seconds())
    if locked_s > 0:
        return SignIn(locked_s=locked_s)

    # Outside any unit of work: the slow hash, run whether or not the account exists.
    ok = users.verify_password(account or User(password_hash=_DUMMY_HASH), password)
    ok = ok and account is not None and account.active

    with unit_of_work() as session:
        user = session.get(User, account.id) if account is not None else None
        if ok and user is not None:
            throttle.success(user_key)
            return SignIn(user=_signed_in(session, user, ip, now))
        lock_s = max(throttle.failure(user_key), throttle.failure(ip_key))
        if user is not None and _count_failure(user, settings, now):
            lock_s = max(lock_s, settings.login_lockout_s)
        audit.record(session, user_id=user.id if user else None, action=audit.LOGIN_FAILED, object_type="user",
                     object_id=user.id if user else "", detail=f"username={username[:40]} ip={ip}")
    return SignIn(locked_s=lock_s)


def _account(session: Session, username: str) -> User | None:
    """The account of this username, detached: it is read after its unit of work."""
    user = session.scalar(select(User).where(User.username == username)) if username else None
    if user is not None:
        session.expunge(user)
    return user


def _signed_in(session: Session, user: User, ip: str, now: dt.datetime) -> User:
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    audit.record(session, user_id=user.id, action=audit.LOGIN, object_type="user", object_id=user.id,
                 detail=f"ip={ip}")                 # flushes the account's changes too
    session.expunge(user)                           # handed out with what was just written
    return user


def _count_failure(user: User, settings: Settings, now: dt.datetime) -> bool:
    """One more failure on the account; True when it locks the account now."""
    user.failed_logins += 1
    if user.failed_logins < settings.login_max_failures:
        return False
    user.failed_logins = 0
    user.locked_until = now + dt.timedelta(seconds=settings.login_lockout_s)
    return True
