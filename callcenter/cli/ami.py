"""``callcenter ami``: the AMI listener on its own (the emulator is ``callcenter ami-emulator``,
in ``callcenter/cli/simulation.py``)."""

from __future__ import annotations

import logging

import click

from callcenter.cli import crash
from callcenter.config import get_settings


@click.command("ami")
def ami_listener() -> None:
    """Run the AMI listener: call records, agent states, callbacks, panel actions.

    Connects to settings.ami_host:ami_port as ami_username, reconnects by itself
    (backoff capped at ami_reconnect_max_s) and stops cleanly on SIGTERM or Ctrl-C.
    """
    crash.enable_crash_traces()   # first: a crash from here on leaves a trace
    from callcenter.ami.process import run_listener

    settings = get_settings()
    logging.getLogger("callcenter.ami").setLevel(min(logging.INFO, logging.getLogger().level or logging.INFO))
    click.echo(f"AMI listener for {settings.ami_host}:{settings.ami_port} (Ctrl-C to stop)")
    run_listener(settings)


COMMANDS = [ami_listener]
