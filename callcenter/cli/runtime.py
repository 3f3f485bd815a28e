"""``callcenter serve``: the all-in-one process (the same with simulated calls instead of
Asterisk is ``callcenter demo``, in ``callcenter/cli/simulation.py``)."""

from __future__ import annotations

import logging

import click

from callcenter import heap
from callcenter.cli import crash
from callcenter.config import get_settings


@click.command("serve")
@click.option("--host", default=None, help="Web panel address (default: settings.web_host).")
@click.option("--port", type=int, default=None, help="Web panel port (default: settings.web_port).")
@click.option("--no-ami", is_flag=True, help="Do not connect to Asterisk's AMI (routing and the panel only).")
def serve(host: str | None, port: int | None, no_ami: bool) -> None:
    """Run everything in one process: FastAGI routing, the AMI listener, the scheduler
    and the web panel (the embedded default: SQLite, in-process event bus).

    On the first start it migrates the database, creates the example lines and queues,
    creates the first admin (password in instance/initial-admin-password) and renders
    missing IVR prompts."""
    crash.enable_crash_traces()   # first: a crash from here on leaves a trace
    from callcenter.runtime import AllInOne, prepare, stop_on_signal

    stop = stop_on_signal()       # before anything starts: a stop while starting is a graceful stop
    settings = get_settings()
    first = prepare(settings)
    _report_first_run(first)
    if stop.is_set():
        return
    system = AllInOne(settings, with_ami=not no_ami, web_host=host, web_port=port).start()
    heap.freeze_startup_objects("callcenter serve", logging.getLogger("callcenter.runtime"))
    try:
        for line in system.describe():
            click.echo(line)
        click.echo("Ctrl-C stops.")
        stop.wait()
    finally:
        system.stop()


def _report_first_run(first) -> None:
    for line in first.configured:
        click.echo(line)
    if first.admin_password_file is not None:
        click.echo(f"first admin created: user 'admin', password in {first.admin_password_file} "
                   "(change it after signing in, under 更改密码 at /account/password; then delete the file)")
    if first.prompts:
        click.echo(first.prompts)


COMMANDS = [serve]
