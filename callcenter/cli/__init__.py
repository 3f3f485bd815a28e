"""The ``callcenter`` command. Each area keeps its subcommands in its own module here
and lists them in ``COMMANDS``; this module only assembles them."""

from __future__ import annotations

import logging
import os

import click

from callcenter.cli import (
    admin,
    agi,
    ami,
    customers,
    database,
    deploy,
    prompts,
    qa,
    reports,
    runtime,
    scheduler,
    simulation,
    surveys,
    users,
    web,
)
from callcenter.cli import speech as speech_cli


class _Cli(click.Group):
    """The command group; a database that cannot be reached or used is reported in one
    clear line (which database, what it said) instead of a driver traceback."""

    def invoke(self, ctx: click.Context):
        from sqlalchemy.exc import OperationalError

        try:
            return super().invoke(ctx)
        except OperationalError as exc:
            raise click.ClickException(database_problem(exc)) from None


def database_problem(exc: Exception) -> str:
    from callcenter.config import get_settings

    try:
        where = database.display_url(get_settings().database_url)
    except Exception:  # noqa: BLE001 - the message must not fail in its turn
        where = "the configured database"
    said = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return f"database {where}: {' '.join(line.strip() for line in said[:2])}"


@click.group(cls=_Cli, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="TOML configuration file (default: $CALLCENTER_CONFIG or ./callcenter.toml).")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def main(config_path: str | None, verbose: int) -> None:
    """Call-center system for Asterisk."""
    if config_path:
        os.environ["CALLCENTER_CONFIG"] = config_path
    logging.basicConfig(
        level=logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


for _module in (database, customers, admin, agi, ami, prompts, runtime, simulation, web, scheduler, deploy, qa,
                reports, surveys, speech_cli, users):
    for _command in _module.COMMANDS:
        main.add_command(_command)
