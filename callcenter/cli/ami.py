"""``callcenter ami`` (the AMI listener on its own) and ``callcenter ami-emulator``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

import click

from callcenter.config import get_settings


@click.command("ami")
def ami_listener() -> None:
    """Run the AMI listener: call records, agent states, callbacks, panel actions.

    Connects to settings.ami_host:ami_port as ami_username, reconnects by itself
    (backoff capped at ami_reconnect_max_s) and stops cleanly on SIGTERM or Ctrl-C.
    """
    from callcenter.ami.listener import run_listener

    settings = get_settings()
    logging.getLogger("callcenter.ami").setLevel(min(logging.INFO, logging.getLogger().level or logging.INFO))
    click.echo(f"AMI listener for {settings.ami_host}:{settings.ami_port} (Ctrl-C to stop)")
    run_listener(settings)


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
    from callcenter.simulation.ami_emulator import AMIEmulator

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


COMMANDS = [ami_listener, ami_emulator]
