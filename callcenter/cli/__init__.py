"""The ``callcenter`` command. Each area keeps its subcommands in its own module here
and lists them in ``COMMANDS``; this module only assembles them."""

from __future__ import annotations

import logging
import os

import click

from callcenter.cli import admin, agi, ami, customers, database, prompts, runtime, scheduler, web


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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


for _module in (database, customers, admin, agi, ami, prompts, runtime, web, scheduler):
    for _command in _module.COMMANDS:
        main.add_command(_command)
