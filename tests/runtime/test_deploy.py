"""Running under systemd: the service units ``callcenter systemd-units`` writes, and a
crash that leaves a trace and does not keep the system down.

Seen on a site: the SQLite files made read-only under traffic killed ``callcenter
serve`` with SIGBUS (SQLite's memory-mapped ``-shm`` file), twice, without one log line,
and the web panel and the AMI listener died with it."""

from __future__ import annotations

import asyncio
import fnmatch
import os
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import pytest
from agi import peers  # tests/agi/peers.py: a scripted Asterisk side
from click.testing import CliRunner

from callcenter.agi import variables as V
from callcenter.cli import crash, deploy, main

REPO = Path(__file__).resolve().parents[2]
CALLCENTER = Path(sys.executable).absolute().parent / "callcenter"
SERVE_UNIT = "callcenter.service"
SPLIT_UNITS = {  # unit -> the command line after the executable
    "callcenter-agi.service": "agi --workers ${CALLCENTER_AGI_WORKERS}",
    "callcenter-ami.service": "ami",
    "callcenter-scheduler.service": "scheduler",
    "callcenter-web@.service": "web --port %i",
}
# The signal each process stops gracefully on (its unit's KillSignal). agi, serve and web are checked below.
GRACEFUL = {"serve": "SIGTERM", "agi": "SIGTERM", "ami": "SIGTERM", "scheduler": "SIGTERM", "web": "SIGTERM"}


# --- the unit files -------------------------------------------------------------------------------------------------
@pytest.fixture
def written(tmp_path) -> tuple[Path, Path, str]:
    """``callcenter systemd-units`` run for a site in tmp_path/site; returns (units
    directory, working directory, output)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "callcenter.toml").write_text('database_url = "sqlite:///callcenter.db"\n', encoding="utf-8")
    out = tmp_path / "units"
    result = CliRunner().invoke(main, ["systemd-units", "--out", str(out), "--user", "ccsvc", "--workdir", str(site)])
    assert result.exit_code == 0, result.output
    return out, site, result.output


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A systemd unit file: section -> key -> values (a key may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None and "=" in line, f"not a unit file line: {raw!r}"
        key, value = (part.strip() for part in line.split("=", 1))
        assert re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", key), f"bad key {key!r}"
        current.setdefault(key, []).append(value)
    return sections


def one(unit: dict, section: str, key: str) -> str:
    values = unit.get(section, {}).get(key, [])
    assert len(values) == 1, f"[{section}] {key}: {values}"
    return values[0]


def seconds(value: str) -> float:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*(ms|s|min)?", value)
    assert match, value
    return float(match.group(1)) * {"ms": 0.001, None: 1, "s": 1, "min": 60}[match.group(2)]


def test_every_unit_is_shipped_as_package_data():
    names = set(deploy.unit_templates())
    assert names == {SERVE_UNIT, "callcenter.target", *SPLIT_UNITS}
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["callcenter"]
    for name in names:
        assert any(fnmatch.fnmatch(f"deploy/systemd/{name}", p) for p in patterns), f"{name} is not package data"


def test_systemd_units_writes_every_unit_with_the_paths_filled_in(written):
    out, site, output = written
    files = {path.name: path.read_text(encoding="utf-8") for path in out.iterdir()}
    assert set(files) == set(deploy.unit_templates())
    for name, text in files.items():
        assert not re.search(r"@[A-Z_]+@", text), f"{name}: placeholder left"
        assert f"wrote {out / name}" in output
        if name.endswith(".service"):
            assert f"WorkingDirectory={site}\n" in text and "User=ccsvc\n" in text
            assert f"ExecStart={CALLCENTER} " in text
    assert "systemctl daemon-reload" in output
    assert "systemctl enable --now callcenter.service" in output
    assert "systemctl enable --now callcenter.target" in output
    assert "callcenter-web@8080.service" in output and "journalctl" in output


def test_each_process_restarts_runs_unprivileged_and_stops_gracefully(written):
    out, site, _ = written
    expected = {SERVE_UNIT: "serve", **SPLIT_UNITS}
    for name, command in expected.items():
        unit = parse_unit((out / name).read_text(encoding="utf-8"))
        assert one(unit, "Service", "ExecStart") == f"{CALLCENTER} {command}", name
        assert one(unit, "Service", "User") == "ccsvc"
        assert one(unit, "Service", "WorkingDirectory") == str(site)
        assert one(unit, "Service", "EnvironmentFile").startswith("-/"), "optional, absolute"
        assert one(unit, "Service", "Restart") in ("always", "on-failure")
        assert 1 <= seconds(one(unit, "Service", "RestartSec")) <= 30
        # A site nobody watches at night: quick crashes never make systemd give up.
        assert one(unit, "Unit", "StartLimitIntervalSec") == "0"
        assert one(unit, "Service", "KillSignal") == GRACEFUL[command.split()[0]], name
        assert 15 <= seconds(one(unit, "Service", "TimeoutStopSec")) <= 120
        assert "PYTHONUNBUFFERED=1" in one(unit, "Service", "Environment").split()
        assert "network-online.target" in one(unit, "Unit", "After").split()
        assert {"postgresql.service", "redis-server.service"} <= set(one(unit, "Unit", "After").split())
        # Ordering only: a machine without PostgreSQL or Redis starts the unit all the same.
        assert not {"Requires", "Requisite", "BindsTo"} & set(unit["Unit"]), name
        wanted_by = one(unit, "Install", "WantedBy")
        if name == SERVE_UNIT:
            assert wanted_by == "multi-user.target" and one(unit, "Unit", "Conflicts") == "callcenter.target"
        else:
            assert wanted_by == "callcenter.target" and one(unit, "Unit", "PartOf") == "callcenter.target"
            assert one(unit, "Unit", "Conflicts") == SERVE_UNIT
    target = parse_unit((out / "callcenter.target").read_text(encoding="utf-8"))
    assert one(target, "Install", "WantedBy") == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_the_units_pass_systemd_analyze_verify(written):
    out, _, _ = written
    shutil.copy(out / "callcenter-web@.service", out / "callcenter-web@8080.service")
    units = sorted(str(path) for path in out.iterdir())
    env = {**os.environ, "SYSTEMD_UNIT_PATH": f"{out}:", "SYSTEMD_LOG_LEVEL": "notice"}
    result = subprocess.run(["systemd-analyze", "verify", "--man=no", *units], env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if "callcenter" in line]
    assert result.returncode == 0 and complaints == [], result.stdout + result.stderr


def test_paths_are_escaped_for_systemd(tmp_path):
    units = deploy.render_units(Path("/opt/call center/100%/bin/callcenter"), Path("/srv/cc 100%"), "cc",
                                Path("/etc/default/callcenter"))
    unit = parse_unit(units[SERVE_UNIT])
    assert one(unit, "Service", "ExecStart") == '"/opt/call center/100%%/bin/callcenter" serve'
    assert one(unit, "Service", "WorkingDirectory") == "/srv/cc 100%%"
    with pytest.raises(ValueError):
        deploy.render_units(Path("bin/callcenter"), Path("/srv/cc"), "cc")


def test_root_is_refused(tmp_path):
    result = CliRunner().invoke(main, ["systemd-units", "--out", str(tmp_path), "--user", "root"])
    assert result.exit_code == 2 and "unprivileged" in result.output
    assert list(tmp_path.iterdir()) == []


# --- a crash leaves a trace -----------------------------------------------------------------------------------------
class _Started(Exception):
    pass


@pytest.mark.parametrize("command", sorted(GRACEFUL))
def test_every_long_running_command_turns_crash_traces_on_first(command, monkeypatch):
    def refuse() -> bool:
        raise _Started(command)

    monkeypatch.setattr(crash, "enable_crash_traces", refuse)
    result = CliRunner().invoke(main, [command])
    assert isinstance(result.exception, _Started), result.output


def test_sigusr1_writes_every_threads_stack_and_the_process_goes_on():
    code = ("import os, signal; from callcenter.cli.crash import enable_crash_traces\n"
            "assert enable_crash_traces()\nos.kill(os.getpid(), signal.SIGUSR1)\nprint('still here')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONFAULTHANDLER"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                            check=False)
    assert result.returncode == 0 and result.stdout == "still here\n", result.stderr
    assert "most recent call first" in result.stderr and 'File "<string>", line 3' in result.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(command: str, site: Path, database: Path, agi_port: int, web_port: int) -> subprocess.Popen:
    """``callcenter agi`` or ``callcenter serve`` (without AMI) as its unit starts it:
    in the site directory, on the site's SQLite database."""
    env = {k: v for k, v in os.environ.items() if k not in ("CALLCENTER_CONFIG", "PYTHONFAULTHANDLER")}
    env.update(CALLCENTER_DATABASE_URL=f"sqlite:///{database}", CALLCENTER_JOURNAL_DIR=str(site / "journal"),
               CALLCENTER_AGI_HOST="127.0.0.1", CALLCENTER_AGI_PORT=str(agi_port))
    args = ["agi"] if command == "agi" else ["serve", "--no-ami", "--host", "127.0.0.1", "--port", str(web_port)]
    process = subprocess.Popen([str(CALLCENTER), *args], cwd=site, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    resource.prlimit(process.pid, resource.RLIMIT_CORE, (0, 0))    # the bus error below dumps no core file
    return process


def _stop(process: subprocess.Popen, signum: signal.Signals) -> str:
    """Send ``signum``, wait for the end; returns stderr (kills the process if it hangs)."""
    try:
        if process.poll() is None:
            process.send_signal(signum)
        return process.communicate(timeout=30)[1]
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _wait_listening(process: subprocess.Popen, port: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        assert process.poll() is None, f"server exited: {process.communicate()[1]}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert time.monotonic() < deadline, f"nothing listened on port {port}"
            time.sleep(0.05)


def _route_a_call(process: subprocess.Popen, port: int, uniqueid: str) -> dict[str, str]:
    """One call through the real socket, once the server listens."""
    _wait_listening(process, port)
    return asyncio.run(peers.call(port, peers.header("route_call", uniqueid=uniqueid))).variables()


def _sign_in_page(process: subprocess.Popen, port: int) -> int:
    _wait_listening(process, port)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/auth/login", timeout=10) as page:
        return page.status


def _calls(database: Path) -> list[str]:
    with sqlite3.connect(database) as conn:
        return [row[0] for row in conn.execute("SELECT uniqueid FROM calls ORDER BY uniqueid")]


@pytest.mark.parametrize("command", ["agi", "serve"])
def test_a_bus_error_leaves_a_trace_and_a_restart_serves_again(command, tmp_path, sqlite_url):
    database = Path(sqlite_url.removeprefix("sqlite:///"))
    agi_port, web_port = _free_port(), _free_port()
    process = _start(command, tmp_path, database, agi_port, web_port)
    try:
        assert _route_a_call(process, agi_port, "1795344600.1")[V.ROUTE_DONE] == "1"
        deadline = time.monotonic() + 20
        while "1795344600.1" not in _calls(database):     # the row is written behind the route
            assert time.monotonic() < deadline, "the call was never recorded"
            time.sleep(0.05)
    finally:
        stderr = _stop(process, signal.SIGBUS)
    assert "Fatal Python error: Bus error" in stderr, stderr
    # faulthandler walks the other threads' frames without stopping them; when one of the
    # busy process's threads changes its stack at that moment the walk itself can fault,
    # and the process ends on SIGSEGV after the bus error's header and the faulting
    # thread's trace were written (seen now and then on a loaded machine).
    # It is a fatal signal either way, and Restart=on-failure restarts on both.
    assert process.returncode in (-signal.SIGBUS, -signal.SIGSEGV), (process.returncode, stderr)
    assert "most recent call first" in stderr and f"{os.sep}callcenter{os.sep}" in stderr, stderr

    again = _start(command, tmp_path, database, agi_port, web_port)     # what Restart= does
    try:
        assert _route_a_call(again, agi_port, "1795344600.2")[V.ROUTE_DONE] == "1"
        if command == "serve":
            assert _sign_in_page(again, web_port) == 200
    finally:
        stderr = _stop(again, signal.Signals[GRACEFUL[command]])       # what `systemctl stop` sends
    assert again.returncode == 0, stderr
    assert "Fatal Python error" not in stderr
    with sqlite3.connect(database) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    assert _calls(database) == ["1795344600.1", "1795344600.2"]


# What `systemctl stop` sends while the process is still starting: a restart loop, or a stop
# right after a start. The all-in-one serves calls and the panel from its first seconds, so
# a stop that arrives in that window must be a graceful stop, not the signal's default death.
SIGNAL_WHILE_STARTING = {
    "serve": ("callcenter.runtime", "AllInOne", ["serve", "--no-ami", "--host", "127.0.0.1", "--port", "0"]),
    "agi": ("callcenter.agi.server", "FastAGIServer", ["agi", "--port", "0"]),
}


@pytest.mark.parametrize("command", sorted(SIGNAL_WHILE_STARTING))
def test_a_stop_signal_while_the_process_starts_stops_it_gracefully(command, tmp_path, sqlite_url):
    module, cls, args = SIGNAL_WHILE_STARTING[command]
    # The signal is sent by the process itself at the moment its system begins to start, so the
    # window is hit every time, not by luck of timing.
    code = (f"import inspect, os, signal\nfrom {module} import {cls} as started\n"
            "real = started.start\n"
            "def signal_then(real_start):\n"
            "    if inspect.iscoroutinefunction(real_start):\n"
            "        async def start(self):\n"
            "            os.kill(os.getpid(), signal.SIGTERM)\n"
            "            return await real_start(self)\n"
            "    else:\n"
            "        def start(self):\n"
            "            os.kill(os.getpid(), signal.SIGTERM)\n"
            "            return real_start(self)\n"
            "    return start\n"
            "started.start = signal_then(real)\n"
            f"from callcenter.cli import main\nmain({args!r})\n")
    env = {k: v for k, v in os.environ.items() if k not in ("CALLCENTER_CONFIG", "PYTHONFAULTHANDLER")}
    env.update(CALLCENTER_DATABASE_URL=sqlite_url, CALLCENTER_JOURNAL_DIR=str(tmp_path / "journal"),
               CALLCENTER_AGI_HOST="127.0.0.1", CALLCENTER_AGI_PORT="0")
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr


def test_the_web_panel_stops_cleanly_on_its_units_kill_signal(tmp_path, sqlite_url):
    """On SIGTERM (what its unit sends) the panel closes its server and the bus and exits 0."""
    env = {k: v for k, v in os.environ.items() if k != "CALLCENTER_CONFIG"}
    env.update(CALLCENTER_DATABASE_URL=sqlite_url, CALLCENTER_WEB_THREADS="8")
    process = subprocess.Popen([str(CALLCENTER), "web", "--host", "127.0.0.1", "--port", "0"], cwd=tmp_path, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        match = re.search(r"http://127.0.0.1:(\d+)/", process.stdout.readline())
        assert match, "no address printed"
        assert _sign_in_page(process, int(match.group(1))) == 200
    finally:
        stderr = _stop(process, signal.Signals[GRACEFUL["web"]])
    assert process.returncode == 0, stderr
