"""``callcenter agi`` (the FastAGI server alone) and ``callcenter install-agi-scripts``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from callcenter.cli import crash
from callcenter.config import get_settings

SCRIPT_TEMPLATE = '''#!{python}
"""Classic AGI entry point for the callcenter route {title} (installed by
``callcenter install-agi-scripts``; the line above names the interpreter callcenter
is installed in)."""

import sys

from callcenter.agi.pyst import main

if __name__ == "__main__":
    sys.exit(main({route}))
'''


@click.command("agi")
@click.option("--host", default=None, help="Listen address (default: settings agi_host).")
@click.option("--port", type=int, default=None, help="Listen port (default: settings agi_port).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Server processes sharing the listening socket (one core each).")
def agi(host: str | None, port: int | None, workers: int) -> None:
    """Run the FastAGI server until SIGTERM/SIGINT (then finish calls in progress)."""
    crash.enable_crash_traces()   # first: a crash from here on leaves a trace
    import logging

    from callcenter.agi import process

    if logging.getLogger().level > logging.INFO:
        # Start-up and shutdown lines are worth seeing; per-call logging stays off.
        logging.getLogger("callcenter.agi").setLevel(logging.INFO)
    try:
        process.run(get_settings(), host=host, port=port, workers=workers)
    except OSError as exc:
        raise click.ClickException(f"cannot listen: {exc}") from exc


@click.command("install-agi-scripts")
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.option("--python", "python", default=sys.executable, show_default=True,
              help="Interpreter for the #! line (the one callcenter is installed in).")
def install_agi_scripts(dest: Path, python: str) -> None:
    """Write per-call AGI scripts into DEST (e.g. /var/lib/asterisk/agi-bin):
    callcenter_agi.py (route named by the first argument) and one <route>.py per route."""
    from callcenter.agi.handlers import default_registry

    dest.mkdir(parents=True, exist_ok=True)
    scripts = {"callcenter_agi.py": SCRIPT_TEMPLATE.format(python=python, title="named by the first argument",
                                                           route="")}
    for name in default_registry().names():
        scripts[f"{name}.py"] = SCRIPT_TEMPLATE.format(python=python, title=repr(name), route=repr(name))
    for filename, text in scripts.items():
        path = dest / filename
        path.write_text(text, encoding="utf-8")
        path.chmod(0o755)
        click.echo(f"wrote {path}")


COMMANDS = [agi, install_agi_scripts]
