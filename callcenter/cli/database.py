"""Schema and users: ``init-db``, ``create-user``."""

from __future__ import annotations

import click

from callcenter.config import get_settings


@click.command("init-db")
def init_db() -> None:
    """Create or migrate the database schema (safe to run again)."""
    from callcenter import migrate

    settings = get_settings()
    migrate.upgrade(settings.database_url)
    click.echo(f"database ready: {display_url(settings.database_url)}")


def display_url(url: str) -> str:
    """The database URL as the admin may see it: the password shown as ***."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@click.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice(["agent", "qa", "supervisor", "admin"]), required=True)
@click.option("--name", "display_name", default="", help="Name shown in the panel.")
@click.option("--interface", default=None, help="The agent's phone, e.g. PJSIP/agent1001.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="Prompted for when not given (never put it in shell history).")
def create_user(username: str, role: str, display_name: str, interface: str | None, password: str) -> None:
    """Create a panel user (agent, qa, supervisor, admin)."""
    from callcenter.db import session_scope
    from callcenter.services.people import users

    settings = get_settings()
    try:
        with session_scope(settings.database_url) as session:
            user = users.create_user(session, username=username, password=password, role=role,
                                     display_name=display_name, default_interface=interface)
            click.echo(f"created {user.role.value} {user.username} (id {user.id})")
    except users.UserError as exc:
        raise click.ClickException(str(exc)) from exc


COMMANDS = [init_db, create_user]
