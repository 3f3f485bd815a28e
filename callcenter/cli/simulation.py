"""``callcenter demo`` and ``callcenter ami-emulator``: the commands that start the
stand-ins for a telephone system.

This module is the one door to ``callcenter.simulation``; it imports it only inside the
commands, so nothing else in the CLI loads the simulation.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
from pathlib import Path

import click

from callcenter.config import get_settings


@click.command("ami-emulator")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=None, type=int, help="Default: settings.ami_port.")
@click.option("--replay", "replays", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A transcript's .from_asterisk.bin to play after the first login (repeatable).")
@click.option("--timing/--no-timing", default=True, show_default=True,
              help="Keep the recorded pauses (needs the .timed.txt beside the .bin).")
@click.option("--speed", default=1.0, show_default=True, help="Replay speed factor.")
def ami_emulator(host: str, port: int | None, replays: tuple[Path, ...], timing: bool, speed: float) -> None:
    """Run the AMI emulator (an Asterisk 22 look-alike) for development and demos.

    It accepts settings.ami_username / ami_secret, serves the capture's queues
    (vip, general_q) and, with --replay, plays recorded event streams.
    """
    from callcenter.simulation.ami.server import AMIEmulator

    settings = get_settings()
    emulator = AMIEmulator(host=host, port=port if port is not None else settings.ami_port,
                           username=settings.ami_username, secret=settings.ami_secret)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await emulator.start()
        click.echo(f"AMI emulator on {host}:{emulator.port} (Ctrl-C to stop)")
        if replays:
            await emulator.wait_for_login()
            for path in replays:
                sent = await emulator.replay(path, timing=timing, speed=speed)
                click.echo(f"replayed {path.name}: {sent} events")
        await stop.wait()
        await emulator.stop()

    asyncio.run(main())


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
    from callcenter.runtime import AllInOne, build_missing_prompts, stop_on_signal
    from callcenter.simulation import demo as sim

    stop = stop_on_signal()       # before anything starts: a stop while starting is a graceful stop
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
        click.echo(f"a simulated call every ~{interval:g} s; sign in as agent1001/2/3, tick a queue (队列) "
                   "and press 就绪 (ready). Ctrl-C stops.")
        stop.wait()
    finally:
        if generator is not None:
            generator.stop()
        if system is not None:
            system.stop()
        emulator.stop()


COMMANDS = [ami_emulator, demo]
