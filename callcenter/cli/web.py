"""``callcenter web``: the web panel alone, served by waitress."""

from __future__ import annotations

import logging
import signal

import click

from callcenter import heap
from callcenter.cli import crash
from callcenter.config import get_settings

log = logging.getLogger(__name__)


@click.command("web")
@click.option("--host", default=None, help="Address to listen on (default: settings.web_host).")
@click.option("--port", type=int, default=None, help="Port to listen on (default: settings.web_port; 0 = any).")
@click.option("--threads", type=int, default=None,
              help="Worker threads (default: settings.web_threads). Each open console holds one.")
def web(host: str | None, port: int | None, threads: int | None) -> None:
    """Run the web panel (agents, supervisors, QA, admin) with waitress."""
    crash.enable_crash_traces()   # first: a crash from here on leaves a trace
    from callcenter.bus import make_bus
    from callcenter.web import create_app
    from callcenter.web.server import make_server

    settings = get_settings()
    if threads is not None:
        settings = settings.model_copy(update={"web_threads": threads})
    bus = make_bus(settings)
    if settings.bus == "inproc":
        log.warning("web panel with the in-process event bus: screen-pops only arrive from an AMI "
                    "listener running in this same process; set bus = \"redis\" for a separate listener")
    app = create_app(settings, bus)
    server = make_server(app, settings, host=host, port=port)
    # Printed (not logged) so scripts that start the panel on port 0 can read the port.
    click.echo(f"callcenter web panel on http://{server.effective_host}:{server.effective_port}/ "
               f"({settings.web_threads} threads, bus={settings.bus})", err=False)
    # SIGTERM (systemd, a supervisor) stops it like Ctrl-C: the server and the bus close.
    signal.signal(signal.SIGTERM, _interrupt)
    heap.freeze_startup_objects("web panel", log)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        bus.close()


def _interrupt(_signum, _frame) -> None:
    raise KeyboardInterrupt


COMMANDS = [web]
