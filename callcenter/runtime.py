"""The all-in-one process (``callcenter serve``): every piece in one process on the
embedded default (SQLite, in-process event bus).

    FastAGI server thread ──► route_call, after_hours ...      (Asterisk connects here)
    AMI listener thread   ──► call records, agent states ─┐
    APScheduler thread    ──► escalation sweep ───────────┼─► event bus ─► web panel (SSE)
    waitress (web panel)  ◄───────────────────────────────┘

Each piece also runs alone (``callcenter agi``, ``ami``, ``scheduler``, ``web``) when a
site grows: PostgreSQL, ``bus = "redis"``, several web workers, exactly one scheduler.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select

from callcenter import migrate
from callcenter.bus import make_bus
from callcenter.bus.core import EventBus
from callcenter.config import Settings
from callcenter.db import session_scope

log = logging.getLogger(__name__)

INITIAL_PASSWORD_FILE = "initial-admin-password"


@dataclass
class FirstRun:
    """What ``prepare`` did on an empty installation (shown once on the console)."""

    configured: list[str] = field(default_factory=list)
    admin_password_file: Path | None = None
    prompts: str = ""


def prepare(settings: Settings, instance_path: Path = Path("instance")) -> FirstRun:
    """Make a fresh or upgraded installation ready to take calls: migrate the schema,
    create the example lines and queues when there are none, create the first admin
    when there are no users, render missing prompt audio."""
    migrate.upgrade(settings.database_url)
    first = FirstRun()
    from callcenter.models import Line, User
    from callcenter.services.people import users
    from callcenter.services.setup import defaults

    with session_scope(settings.database_url) as session:
        if session.scalar(select(func.count(Line.id))) == 0:
            first.configured = defaults.setup_defaults(session)
        if session.scalar(select(func.count(User.id))) == 0:
            password = secrets.token_urlsafe(12)
            users.create_user(session, username="admin", password=password, role="admin",
                              display_name="管理员")
            first.admin_password_file = _write_private(instance_path / INITIAL_PASSWORD_FILE, password + "\n")
    first.prompts = build_missing_prompts(settings)
    return first


def _write_private(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def build_missing_prompts(settings: Settings) -> str:
    """Render prompts that are new or changed, so a fresh install speaks. Without
    espeak-ng/sox the system still routes calls; the menus are then silent."""
    from callcenter.ivr.flow import FlowError
    from callcenter.ivr.loader import all_prompts, load_flows
    from callcenter.ivr.sounds import PromptBuildError, build_prompts

    try:
        flows = load_flows(settings.ivr_flows_dir)
    except FlowError as exc:
        # The system still starts: calls on a line whose flow is unusable are routed
        # without the menu (route_call), and the admin is told what to fix.
        problems = "\n  ".join(exc.problems)
        return (f"IVR flows not usable, calls are routed without the menu until this is fixed "
                f"(check with `callcenter ivr check`; the directory is setting ivr_flows_dir, "
                f"relative to where the system starts):\n  {problems}")
    try:
        result = build_prompts(all_prompts(flows), settings.prompts_dir)
    except PromptBuildError as exc:
        return f"prompt audio not built: {exc}"
    return f"rendered {len(result.rendered)} prompt(s) into {settings.prompts_dir}" if result.rendered else ""


class AllInOne:
    """Start and stop every piece of the system inside this process."""

    def __init__(self, settings: Settings, *, bus: EventBus | None = None, with_ami: bool = True,
                 with_scheduler: bool = True, web_host: str | None = None, web_port: int | None = None,
                 instance_path: Path = Path("instance")) -> None:
        self.settings = settings
        self.bus = bus if bus is not None else make_bus(settings)
        self.with_ami = with_ami
        self.with_scheduler = with_scheduler
        self.web_host = web_host if web_host is not None else settings.web_host
        self.web_port = web_port if web_port is not None else settings.web_port
        self.instance_path = instance_path
        self.agi = None
        self.ami = None
        self.jobs = None        # scheduler.standby.StandbyScheduler: leads, or stands by for another process
        self.web = None

    @property
    def scheduler(self):
        """The running APScheduler while this process holds the scheduler lock, else None."""
        return self.jobs.scheduler if self.jobs is not None else None

    def start(self) -> AllInOne:
        from callcenter.agi.process import start_in_thread
        from callcenter.web import create_app
        from callcenter.web.server import ServerThread

        try:
            self.agi = start_in_thread(self.settings)
            if self.with_ami:
                from callcenter.ami.process import start_listener_thread

                self.ami = start_listener_thread(
                    self.settings, self.bus,
                    unreachable_hint="no Asterisk here? 'callcenter serve --no-ami' runs routing and the panel alone")
            if self.with_scheduler:
                self._start_scheduler()
            app = create_app(self.settings, self.bus, instance_path=self.instance_path)
            self.web = ServerThread(app, self.settings, host=self.web_host, port=self.web_port).start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start_scheduler(self) -> None:
        from callcenter.scheduler.standby import StandbyScheduler

        make_dialer = None
        if self.with_ami:
            # Survey calls (回访) are placed on an AMI connection of the scheduler's own.
            from callcenter.ami.survey_dialer import fenced_dialer

            make_dialer = fenced_dialer(self.settings)
        # One scheduler per database: when another process holds the lock, this one stands
        # by and takes the jobs over when that process stops.
        self.jobs = StandbyScheduler(self.settings, self.bus, make_dialer=make_dialer).start()

    def describe(self) -> list[str]:
        lines = []
        if self.web is not None:
            lines.append(f"web panel    {self.web.url}/")
        if self.agi is not None:
            lines.append(f"FastAGI      agi://{self.settings.agi_host}:{self.agi.port}/route_call")
        if self.ami is not None:
            lines.append(f"AMI listener {self.settings.ami_username}@{self.settings.ami_host}:{self.settings.ami_port}")
        if self.jobs is not None:
            lines.append("scheduler    " + self.jobs.describe())
        return lines

    def stop(self) -> None:
        """Stop in the reverse order of the flow of a call: web, scheduler, listener, AGI."""
        if self.web is not None:
            self.web.stop()
            self.web = None
        if self.jobs is not None:
            self.jobs.stop()
            self.jobs = None
        if self.ami is not None:
            self.ami.stop()
            self.ami = None
        if self.agi is not None:
            self.agi.stop()
            self.agi = None
        self.bus.close()


def stop_on_signal() -> threading.Event:
    """An event that SIGINT or SIGTERM sets (main thread only).

    Taken before anything starts: the system answers calls and serves the panel while it is
    still starting, and a stop that arrives then (``systemctl stop`` right after a start, a
    restart loop) must be the graceful stop, not the signal's default death."""
    import signal

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    return stop
