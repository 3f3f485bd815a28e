"""Who may open which route. Every view carries its access rule as ``view.access``:
a frozenset of role names, or ``PUBLIC``. The access-matrix test walks ``app.url_map``
and fails for any view without a rule, so a new route cannot escape the check.

Anonymous visitors are sent to the sign-in page; anything under ``/api/`` (JSON and the
event streams) answers 401 instead, because a script cannot follow a login redirect.
A signed-in user whose role is not allowed gets 403.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import abort
from flask_login import current_user

from callcenter.models import Role
from callcenter.web.login import login_manager

PUBLIC = "public"
AGENT, QA, SUPERVISOR, ADMIN = (r.value for r in (Role.AGENT, Role.QA, Role.SUPERVISOR, Role.ADMIN))
ALL_ROLES = frozenset(r.value for r in Role)
# Who works with customer records and calls.
CALL_HANDLERS = frozenset({AGENT, SUPERVISOR})


def roles_required(*roles: str) -> Callable:
    allowed = frozenset(roles)
    unknown = allowed - ALL_ROLES
    if unknown:
        raise ValueError(f"unknown roles {sorted(unknown)}")

    def decorator(view: Callable) -> Callable:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        wrapped.access = allowed
        return wrapped

    return decorator


def signed_in(view: Callable) -> Callable:
    """Any role."""
    return roles_required(*ALL_ROLES)(view)


def public(view: Callable) -> Callable:
    view.access = PUBLIC
    return view


def access_of(view: Callable) -> frozenset[str] | str | None:
    return getattr(view, "access", None)
