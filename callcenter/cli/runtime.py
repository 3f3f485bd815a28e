"""``callcenter serve`` (the all-in-one process) and ``callcenter demo`` (the same with
simulated calls instead of Asterisk)."""

from __future__ import annotations

import secrets
from pathlib import Path

import click

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
    from callcenter.runtime import AllInOne, prepare, wait_for_stop_signal

    settings = get_settings()
    first = prepare(settings)
    _report_first_run(first)
    system = AllInOne(settings, with_ami=not no_ami, web_host=host, web_port=port).start()
    try:
        for line in system.describe():
            click.echo(line)
        click.echo("Ctrl-C stops.")
        wait_for_stop_signal()
    finally:
        system.stop()


def _report_first_run(first) -> None:
    for line in first.configured:
        click.echo(line)
    if first.admin_password_file is not None:
        click.echo(f"first admin created: user 'admin', password in {first.admin_password_file} "
                   "(change it after signing in; delete the file)")
    if first.prompts:
        click.echo(first.prompts)


@click.command("demo")
@click.option("--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("demo"),
              show_default=True, help="Where the demo keeps its own database and recordings.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Web panel address.")
@click.option("--port", type=int, default=None, help="Web panel port (default: settings.web_port).")
@click.option("--interval", type=float, default=8.0, show_default=True, help="Seconds between simulated calls.")
def demo(directory: Path, host: str, port: int | None, interval: float) -> None:
    """Try the system without a telephone system: SIMULATED calls.

    Starts the all-in-one system on a demo database with demo customers and agents,
    and a simulated Asterisk that places calls through the real FastAGI socket and an
    AMI emulator. Sign in as an agent and watch calls route and pop. With a real
    Asterisk, `callcenter serve` is the command."""
    from callcenter.runtime import AllInOne, build_missing_prompts, wait_for_stop_signal
    from callcenter.simulation import demo as sim

    directory.mkdir(parents=True, exist_ok=True)
    ami_secret = secrets.token_urlsafe(12)
    emulator = sim.start_emulator(ami_secret)
    system = None
    generator = None
    try:
        settings = sim.demo_settings(get_settings(), directory, emulator.port, ami_secret)
        accounts = sim.seed(settings, directory)
        prompts = build_missing_prompts(settings)
        system = AllInOne(settings, web_host=host, web_port=port, instance_path=directory / "instance").start()
        generator = sim.CallGenerator(emulator, system.agi.port, interval_s=interval).start()
        click.echo("=" * 72)
        click.echo("SIMULATION: no Asterisk. Calls are simulated through the real FastAGI socket")
        click.echo("and an AMI emulator. With a real Asterisk, run `callcenter serve`.")
        click.echo("=" * 72)
        for line in system.describe():
            click.echo(line)
        if prompts:
            click.echo(prompts)
        click.echo(f"demo users (also in {accounts.file}):")
        for user, password in accounts.passwords.items():
            click.echo(f"  {user:<11} {password}")
        click.echo(f"a simulated call every ~{interval:g} s; sign in as agent1001/2/3 and press 就绪 (ready). "
                   "Ctrl-C stops.")
        wait_for_stop_signal()
    finally:
        if generator is not None:
            generator.stop()
        if system is not None:
            system.stop()
        emulator.stop()


COMMANDS = [serve, demo]
