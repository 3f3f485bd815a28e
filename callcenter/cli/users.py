"""Panel users on the command line: ``user list``, ``user deactivate``, ``user activate``,
``user reset-password`` (``create-user`` is in ``database``). The same services and
audit log as the panel's user administration; the CLI acts as no panel user."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy.orm import Session

from callcenter.config import Settings, get_settings


@contextmanager
def _unit_of_work() -> Iterator[tuple[Session, Settings]]:
    from callcenter.db import session_scope
    from callcenter.services.people.users import UserError

    settings = get_settings()
    try:
        with session_scope(settings.database_url) as session:
            yield session, settings
    except UserError as exc:
        raise click.ClickException(str(exc)) from exc


def _user(session: Session, username: str):
    from callcenter.services.people import users

    user = users.find_user(session, username)
    if user is None:
        raise click.ClickException(f"no user {username!r} (callcenter user list shows them)")
    return user


@click.group("user")
def user_group() -> None:
    """Panel users: list, deactivate/activate, reset a password."""


@user_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include deactivated users.")
def user_list(show_all: bool) -> None:
    """List panel users with role, phone and last sign-in (local time)."""
    from callcenter.cli.admin import _table
    from callcenter.labels import ROLES, label
    from callcenter.services.people import users
    from callcenter.timeutil import to_local

    with _unit_of_work() as (session, settings):
        everyone = users.list_users(session)
        rows = [[u.username, u.display_name, f"{u.role.value} ({label(ROLES, u.role)})",
                 u.default_interface or "-", "active" if u.active else "deactivated",
                 f"{to_local(u.last_login_at, settings.timezone):%Y-%m-%d %H:%M}" if u.last_login_at else "never"]
                for u in everyone if show_all or u.active]
    hidden = sum(1 for u in everyone if not u.active) if not show_all else 0
    if not rows:
        click.echo("no users yet (callcenter create-user --role admin <name>)")
    else:
        _table(rows, ["USERNAME", "NAME", "ROLE", "PHONE", "STATE", f"LAST SIGN-IN ({settings.timezone})"])
    if hidden:
        click.echo(f"({hidden} deactivated user(s) not shown; --all lists them)")


def _set_active(username: str, active: bool) -> None:
    from callcenter.services.people import users

    with _unit_of_work() as (session, _settings):
        user = _user(session, username)
        if user.active == active:
            click.echo(f"{username} is already {'active' if active else 'deactivated'}")
            return
        users.admin_set_active(session, user.id, active, admin_id=None)
    click.echo(f"{username} {'activated' if active else 'deactivated: every open panel session ended'}")


@user_group.command("deactivate")
@click.argument("username")
def user_deactivate(username: str) -> None:
    """Deactivate USERNAME: they cannot sign in, their open sessions end."""
    _set_active(username, False)


@user_group.command("activate")
@click.argument("username")
def user_activate(username: str) -> None:
    """Let a deactivated USERNAME sign in again."""
    _set_active(username, True)


@user_group.command("reset-password")
@click.argument("username")
@click.option("--password", prompt="New password", hide_input=True, confirmation_prompt=True,
              help="Prompted for when not given (never put it in shell history).")
def user_reset_password(username: str, password: str) -> None:
    """Set a new password for USERNAME (who forgot theirs); their open sessions end."""
    from callcenter.services.people import users

    with _unit_of_work() as (session, _settings):
        users.admin_reset_password(session, _user(session, username).id, password, admin_id=None)
    click.echo(f"password of {username} reset; their open panel sessions ended")


COMMANDS = [user_group]
