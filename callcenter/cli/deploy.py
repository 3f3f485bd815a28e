"""``callcenter systemd-units``: the systemd service units of this installation.

The templates ship in the package (``callcenter/deploy/systemd``): ``callcenter.service``
(``callcenter serve``, the all-in-one) and, for a grown site, ``callcenter-agi.service``,
``callcenter-ami.service``, ``callcenter-scheduler.service`` and the template
``callcenter-web@.service`` (one instance per port), grouped by ``callcenter.target``.
The command fills in the ``callcenter`` executable of this environment, the working
directory (where ``callcenter.toml`` and ``instance/`` live), the service user and the
environment file, and says how to enable them.
"""

from __future__ import annotations

import pwd
import re
import sys
from importlib import resources
from pathlib import Path

import click

PLACEHOLDER = re.compile(r"@[A-Z_]+@")
UNIT_SUFFIXES = (".service", ".target")
DEFAULT_USER = "callcenter"
DEFAULT_ENV_FILE = Path("/etc/default/callcenter")
SYSTEM_UNIT_DIR = Path("/etc/systemd/system")
SPLIT_UNITS = ("callcenter-agi.service", "callcenter-ami.service", "callcenter-scheduler.service",
               "callcenter-web@8080.service")
_USER_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\$?|[0-9]+")


def unit_templates() -> dict[str, str]:
    """The unit templates shipped in the package: file name -> text."""
    folder = resources.files("callcenter").joinpath("deploy").joinpath("systemd")
    return {entry.name: entry.read_text(encoding="utf-8")
            for entry in sorted(folder.iterdir(), key=lambda e: e.name) if entry.name.endswith(UNIT_SUFFIXES)}


def callcenter_executable() -> Path:
    """The ``callcenter`` script next to this interpreter (the virtualenv's bin/)."""
    return Path(sys.executable).absolute().parent / "callcenter"


def render_units(executable: Path, workdir: Path, user: str, env_file: Path = DEFAULT_ENV_FILE) -> dict[str, str]:
    """Every unit with the placeholders filled in. Paths must be absolute; ``%`` and ``$``
    are escaped for systemd, an ExecStart path with blanks is quoted."""
    for path in (executable, workdir, env_file):
        if not path.is_absolute() or any(ord(c) < 32 for c in str(path)):
            raise ValueError(f"{path}: not an absolute path systemd can use")
    if not _USER_NAME.fullmatch(user):
        raise ValueError(f"{user!r}: not a user name")
    values = {
        "@CALLCENTER@": _exec_word(str(executable)),
        "@WORKDIR@": _specifiers_escaped(str(workdir)),
        "@USER@": user,
        "@ENV_FILE@": _specifiers_escaped(str(env_file)),
    }
    units = {}
    for name, text in unit_templates().items():
        filled = PLACEHOLDER.sub(lambda m: values.get(m.group(0), m.group(0)), text)
        left = sorted(set(PLACEHOLDER.findall(filled)))
        if left:
            raise RuntimeError(f"{name}: placeholders without a value: {', '.join(left)}")
        units[name] = filled
    return units


def _specifiers_escaped(value: str) -> str:
    return value.replace("%", "%%")


def _exec_word(value: str) -> str:
    """One word of an ExecStart= command line."""
    value = _specifiers_escaped(value).replace("$", "$$")
    if re.search(r"[\s\"'\\]", value):
        value = '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


@click.command("systemd-units")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write the units into (e.g. /etc/systemd/system).")
@click.option("--user", default=DEFAULT_USER, show_default=True, help="Unprivileged user the processes run as.")
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Working directory with callcenter.toml and instance/ (default: the current directory).")
@click.option("--env-file", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_ENV_FILE,
              show_default=True, help="Optional environment file (CALLCENTER_* settings, secrets).")
def systemd_units(out: Path, user: str, workdir: Path | None, env_file: Path) -> None:
    """Write systemd units for this installation: callcenter.service (callcenter serve)
    and, for a grown site, callcenter-agi/-ami/-scheduler.service, callcenter-web@PORT.service
    and callcenter.target. Each comes back 3 s after it ends (a crash included; only
    `systemctl stop` keeps it down), runs as USER in WORKDIR and reads
    ENV_FILE when it exists."""
    if user == "root" or user == "0":
        raise click.BadParameter("the processes must not run as root; name an unprivileged user", param_hint="--user")
    workdir = (workdir or Path.cwd()).resolve()
    env_file = env_file.absolute()
    executable = callcenter_executable()
    try:
        units = render_units(executable, workdir, user, env_file)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    out.mkdir(parents=True, exist_ok=True)
    for name, text in units.items():
        (out / name).write_text(text, encoding="utf-8")
        click.echo(f"wrote {out / name}")
    for note in _notes(executable, workdir, user):
        click.echo(f"note: {note}")
    for line in _next_steps(out.resolve(), workdir, user, env_file):
        click.echo(line)


def _notes(executable: Path, workdir: Path, user: str) -> list[str]:
    notes = []
    if not executable.exists():
        notes.append(f"{executable} does not exist: run this command with the callcenter of the installation")
    if not (workdir / "callcenter.toml").is_file():
        notes.append(f"no callcenter.toml in {workdir}: the defaults and the environment file apply")
    try:
        pwd.getpwnam(user)
    except KeyError:
        notes.append(f"user {user} does not exist yet (see below)")
    return notes


def _next_steps(out: Path, workdir: Path, user: str, env_file: Path) -> list[str]:
    steps = ["", "As root:"]
    steps.append(f"  id {user} >/dev/null 2>&1 || useradd --system --home-dir {workdir} --shell /usr/sbin/nologin {user}")
    steps.append(f"  chown {user}: {workdir} && install -d -o {user} {workdir}/instance   "
                 "# the SQLite database, instance/ and recordings/ must be writable")
    if out != SYSTEM_UNIT_DIR:
        steps.append(f"  cp {out}/callcenter*.service {out}/callcenter.target {SYSTEM_UNIT_DIR}/")
    steps += [
        "  systemctl daemon-reload",
        "All-in-one (callcenter serve):",
        "  systemctl enable --now callcenter.service",
        "Split processes (a grown site; one callcenter-web@PORT per panel process):",
        f"  systemctl enable {' '.join(SPLIT_UNITS)}",
        "  systemctl enable --now callcenter.target",
        f"Settings and secrets: CALLCENTER_* lines in {env_file} (CALLCENTER_AGI_WORKERS: FastAGI processes).",
        "Logs, crash traces included: journalctl -u 'callcenter*' -f",
    ]
    return steps


COMMANDS = [systemd_units]
