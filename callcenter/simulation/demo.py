"""``callcenter demo``: the whole system with simulated calls, for trying it without a
telephone system.

THIS IS A SIMULATION. No Asterisk runs: a simulated Asterisk places calls through the
real FastAGI socket (``callcenter.simulation.calls``) and an AMI emulator
(``callcenter.simulation.ami``, the one the tests use) plays the queue events; everything
downstream is the real system: routing, IVR, the AMI listener, call records, callback
tasks, the event bus and the agent console's screen-pop. With a real Asterisk, run
``callcenter serve`` instead.

The demo keeps its own database in its own directory (default ``./demo``), so it never
touches a real installation.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

from callcenter import migrate
from callcenter.config import Settings
from callcenter.db import session_scope
from callcenter.simulation.ami.state import QueueConfig
from callcenter.simulation.ami.thread import EmulatorThread
from callcenter.simulation.calls import SimulatedCall, run_session

log = logging.getLogger(__name__)

# Agents sit at the example phones of asterisk_conf/pjsip.conf.
DEMO_AGENTS = [
    ("agent1001", "王丽", "PJSIP/agent1001"),
    ("agent1002", "李娜", "PJSIP/agent1002"),
    ("agent1003", "张伟", "PJSIP/agent1003"),
]
DEMO_STAFF = [("supervisor", "赵主管", "supervisor"), ("qa", "孙质检", "qa"), ("admin", "管理员", "admin")]

# Queues as in asterisk_conf/queues.conf.
# No members, as in the shipped queues.conf: an agent is rung only after ticking a queue at
# the console (a dynamic member, AMI QueueAdd through the listener); one who has not
# signed in is neither shown as ready nor rung.
DEMO_QUEUES = [
    QueueConfig("vip", weight=10),
    QueueConfig("general_q"),
    QueueConfig("duty"),
]

# name, numbers, tier, area, building, unit, room, important
DEMO_CUSTOMERS = [
    ("王秀英", ["13800138000"], "vip", "锦绣花园", "3", "2", "501", True),
    ("李建国", ["13900139001", "010-65529988"], "member", "锦绣花园", "5", "1", "1202", False),
    ("张敏", ["13700137002"], "ordinary", "阳光小区", "12", "3", "302", False),
    ("刘洋", ["13600136003"], "ordinary", "阳光小区", "8", "1", "101", False),
    ("陈静", ["13500135004"], "member", "滨江壹号", "1", "1", "2801", False),
    ("杨帆", ["13300133005"], "ordinary", "滨江壹号", "2", "2", "1503", False),
    ("黄磊", ["15800158006"], "vip", "锦绣花园", "1", "1", "1801", True),
    ("周婷", ["18600186007"], "ordinary", "阳光小区", "6", "2", "602", False),
]
UNKNOWN_CALLERS = [("18912345678", "新来电"), ("15012345678", "")]
# What callers press in the ordinary line's main menu (ivr_flows/main.yaml): 1 咨询,
# 2 报修 / 3 投诉 / 5 订单 (each with a sub-menu), 4 建议, 0 人工, or nothing at all.
MENU_CHOICES = [["1"], ["2", "1"], ["2", "3"], ["3", "1"], ["4"], ["5", "2"], ["0"], []]


@dataclass
class DemoAccounts:
    """Sign-in names and passwords of the demo users (random per demo database)."""

    passwords: dict[str, str]
    file: Path


def demo_settings(base: Settings, directory: Path, ami_port: int, ami_secret: str) -> Settings:
    return base.model_copy(update={
        "database_url": f"sqlite:///{(directory / 'demo.db').resolve()}",
        "recordings_dir": directory / "recordings",
        "prompts_dir": base.prompts_dir,
        "agi_port": 0,  # any free port: the simulated Asterisk is told which
        "ami_host": "127.0.0.1", "ami_port": ami_port, "ami_username": "callcenter", "ami_secret": ami_secret,
        "bus": "inproc",
    })


def seed(settings: Settings, directory: Path) -> DemoAccounts:
    """Demo lines, queues, 24-hour opening (so every call reaches a queue), customers
    with an open complaint, agents and staff. Idempotent: a second start reuses them."""
    from callcenter.models import Customer, User
    from callcenter.services.people import customers, users
    from callcenter.services.setup import defaults, hours
    from callcenter.services.tickets import tickets

    migrate.upgrade(settings.database_url)
    accounts_file = directory / "demo-accounts.txt"
    with session_scope(settings.database_url) as session:
        if session.scalar(select(func.count(User.id))) > 0 and accounts_file.is_file():
            return DemoAccounts(_read_accounts(accounts_file), accounts_file)
        defaults.setup_defaults(session)
        for number in ("4008002000", "4008001000"):
            hours.set_hours(session, number, hours.parse_weekdays("all"), hours.parse_intervals("00:00-24:00"))
        passwords: dict[str, str] = {}
        for username, name, interface in DEMO_AGENTS:
            passwords[username] = secrets.token_urlsafe(8)
            users.create_user(session, username=username, password=passwords[username], role="agent",
                              display_name=name, default_interface=interface)
        for username, name, role in DEMO_STAFF:
            passwords[username] = secrets.token_urlsafe(8)
            users.create_user(session, username=username, password=passwords[username], role=role,
                              display_name=name)
        for name, numbers, tier, area, building, unit, room, important in DEMO_CUSTOMERS:
            customers.create_customer(session, name=name, numbers=numbers, tier=tier, area=area,
                                      building=building, unit=unit, room=room, important=important)
        session.flush()
        agent = session.scalar(select(User).where(User.username == "agent1002"))
        complainant = session.scalar(select(Customer).where(Customer.name == "张敏"))
        tickets.create_ticket(session, settings, actor=agent, type="complaint", subject="电梯经常停运",
                              customer_id=complainant.id, contact_phone="13700137002",
                              fields={"complainant": "张敏", "channel": "phone", "target": "物业工程部",
                                      "customer_wants": "尽快维修电梯", "area": "阳光小区", "building": "12",
                                      "unit": "3", "room": "302"},
                              severity="ordinary", urgency="not_urgent")
    _write_accounts(accounts_file, passwords)
    return DemoAccounts(passwords, accounts_file)


def _write_accounts(path: Path, passwords: dict[str, str]) -> None:
    from callcenter.runtime import _write_private

    _write_private(path, "".join(f"{user} {password}\n" for user, password in passwords.items()))


def _read_accounts(path: Path) -> dict[str, str]:
    pairs = (line.split(" ", 1) for line in path.read_text(encoding="utf-8").splitlines() if " " in line)
    return {user: password for user, password in pairs}


class CallGenerator:
    """Places a simulated call every few seconds: the route through FastAGI, then the
    queue (agent rings, answers or not) through the AMI emulator."""

    def __init__(self, emulator: EmulatorThread, agi_port: int, *, interval_s: float = 8.0,
                 ring_s: tuple[float, float] = (3.0, 6.0), talk_s: tuple[float, float] = (20.0, 60.0),
                 seed: int | None = None) -> None:
        self.emulator = emulator
        self.ring_s = ring_s
        self.talk_s = talk_s
        self.agi_port = agi_port
        self.interval_s = interval_s
        self.random = random.Random(seed)
        self.calls = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-calls", daemon=True)

    def start(self) -> CallGenerator:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s * self.random.uniform(0.6, 1.4)):
            try:
                self.place_call()
            except Exception:  # the demo keeps going; the log says what broke
                log.exception("simulated call failed")

    def next_call(self) -> SimulatedCall:
        if self.random.random() < 0.2:
            number, name = self.random.choice(UNKNOWN_CALLERS)
        else:
            name, numbers, *_ = self.random.choice(DEMO_CUSTOMERS)
            number = numbers[0]
        dialled = "4008002000" if self.random.random() < 0.3 else "4008001000"
        return SimulatedCall(dialled=dialled, caller_number=number, caller_name=name,
                             keys=list(self.random.choice(MENU_CHOICES)))

    def place_call(self) -> dict[str, str]:
        """One whole call; returns the channel variables route_call set."""
        call = self.next_call()
        result = asyncio.run(run_session(call, "127.0.0.1", self.agi_port))
        self.calls += 1
        variables = result.variables
        if variables.get("CC_ROUTE") != "queue":
            log.info("demo call %s from %s: %s (%s)", call.uniqueid, call.caller_number,
                     variables.get("CC_ROUTE"), variables.get("CC_ROUTE_REASON"))
            return variables
        queue = variables.get("CC_QUEUE", "general_q")
        interface = self._free_member(queue)
        outcome = "answered" if interface and self.random.random() < 0.85 else "abandoned"
        # The queue part runs on the emulator's loop in real time (rings, talk); the
        # generator goes on placing the next call meanwhile.
        future = asyncio.run_coroutine_threadsafe(self.emulator.emulator.play_call(
            queue=queue, interface=interface or "PJSIP/agent1002", caller=call.caller_number,
            caller_name=call.caller_name, did=call.dialled, linkedid=call.uniqueid,
            outcome=outcome if interface else "timeout", ring_s=self.random.uniform(*self.ring_s),
            talk_s=self.random.uniform(*self.talk_s), hangup_by=self.random.choice(["caller", "agent"]),
        ), self.emulator.loop)
        future.add_done_callback(_log_failure)
        log.info("demo call %s from %s → %s (%s), %s", call.uniqueid, call.caller_number, queue,
                 variables.get("CC_ROUTE_REASON"), outcome if interface else "nobody free: timeout")
        return variables

    def _free_member(self, queue: str) -> str | None:
        """A member of the queue who is neither paused nor on a call, as Asterisk would pick."""
        members = self.emulator.call(self._members, queue)
        return self.random.choice(members) if members else None

    async def _members(self, queue: str) -> list[str]:
        q = self.emulator.emulator.queues.get(queue)
        if q is None:
            return []
        return [m.interface for m in q.members.values() if not m.paused and not m.in_call and m.status == 1]


def _log_failure(future) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("simulated queue call failed", exc_info=future.exception())


def start_emulator(secret: str) -> EmulatorThread:
    return EmulatorThread(secret=secret, queues=DEMO_QUEUES).start()
