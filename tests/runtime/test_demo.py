"""``callcenter demo``: simulated calls go through the real FastAGI socket, the AMI
emulator and the real listener, and end up as complete call records."""

from __future__ import annotations

import time

from click.testing import CliRunner
from sqlalchemy import select

from callcenter.cli import main
from callcenter.config import Settings
from callcenter.db import session_scope
from callcenter.models import AgentState, AgentStatus, Call, CallStatus, Ticket, User
from callcenter.runtime import AllInOne
from callcenter.services.people import console
from callcenter.simulation import demo


def test_demo_call_is_routed_queued_answered_and_recorded(tmp_path):
    emulator = demo.start_emulator("emu-secret")
    try:
        settings = demo.demo_settings(Settings(secret_key="test-secret", prompts_dir=tmp_path / "prompts"),
                                      tmp_path, emulator.port, "emu-secret")
        accounts = demo.seed(settings, tmp_path)
        assert set(accounts.passwords) == {"agent1001", "agent1002", "agent1003", "supervisor", "qa", "admin"}
        assert demo.seed(settings, tmp_path).passwords == accounts.passwords   # a restart reuses them
        system = AllInOne(settings, web_port=0, with_scheduler=False,
                          instance_path=tmp_path / "instance").start()
        try:
            assert system.ami.wait_connected(10)
            generator = demo.CallGenerator(emulator, system.agi.port, ring_s=(0.5, 0.5), talk_s=(1, 1), seed=7)
            generator.random.random = lambda: 0.5      # a known customer, the ordinary line, answered
            join_at_the_console(system, "agent1002", "general_q")
            variables = generator.place_call()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                system.ami.sync()
                with session_scope(settings.database_url) as session:
                    call = session.scalar(select(Call).order_by(Call.id.desc()).limit(1))
                    if call.status in (CallStatus.COMPLETED, CallStatus.ABANDONED):
                        break
                time.sleep(0.5)
        finally:
            system.stop()
    finally:
        emulator.stop()
    assert variables["CC_ROUTE"] == "queue"
    assert call.queue == variables["CC_QUEUE"]
    assert call.dialled_number == "4008001000"
    assert call.customer_id is not None and call.ivr_path[0] == "main"
    assert call.status is CallStatus.COMPLETED
    assert call.answered_by_interface == "PJSIP/agent1002"
    assert call.talk_seconds is not None and call.queued_at is not None


def test_in_the_demo_nobody_is_rung_before_they_join_a_queue_at_the_console(tmp_path):
    """As with the shipped queues.conf, the demo's queues have no members: an agent who has
    not signed in is neither shown as ready nor rung; ticking a queue at the console
    (QueueAdd through the listener) makes them a member that calls ring."""
    emulator = demo.start_emulator("emu-secret")
    try:
        settings = demo.demo_settings(Settings(secret_key="test-secret", prompts_dir=tmp_path / "prompts"),
                                      tmp_path, emulator.port, "emu-secret")
        demo.seed(settings, tmp_path)
        system = AllInOne(settings, web_port=0, with_scheduler=False,
                          instance_path=tmp_path / "instance").start()
        try:
            assert system.ami.wait_connected(10) and system.ami.sync(10)
            generator = demo.CallGenerator(emulator, system.agi.port, seed=7)
            assert {q: generator._free_member(q) for q in ("vip", "general_q", "duty")} == dict.fromkeys(
                ("vip", "general_q", "duty"))
            with session_scope(settings.database_url) as session:
                ready = session.scalars(select(AgentState).where(AgentState.status == AgentStatus.READY)).all()
                assert ready == []

            join_at_the_console(system, "agent1003", "duty")
            assert generator._free_member("duty") == "PJSIP/agent1003"
            assert generator._free_member("vip") is None and generator._free_member("general_q") is None
        finally:
            system.stop()
    finally:
        emulator.stop()


def join_at_the_console(system: AllInOne, username: str, queue: str) -> None:
    """What the agent's console does when they sit at their phone and tick ``queue``."""
    with session_scope(system.settings.database_url) as session:
        user = session.scalar(select(User).where(User.username == username))
        state = console.sit_at(session, user, user.default_interface)
        message = console.action_request(state, "join", queue=queue)
    with system.bus.subscribe("agent") as answers:
        system.bus.publish("ami.action", message)
        deadline = time.monotonic() + 10
        while True:
            item = answers.get(timeout=0.5)
            if item is not None and item[1].get("request_id") == message["request_id"]:
                assert item[1].get("ok"), item
                return
            assert time.monotonic() < deadline, f"no answer to {message}"


def test_demo_seed_has_agents_at_the_example_phones_and_an_open_complaint(tmp_path):
    settings = demo.demo_settings(Settings(secret_key="x"), tmp_path, 5038, "s")
    demo.seed(settings, tmp_path)
    with session_scope(settings.database_url) as session:
        interfaces = set(session.scalars(select(User.default_interface).where(User.role == "agent")))
        assert interfaces == {"PJSIP/agent1001", "PJSIP/agent1002", "PJSIP/agent1003"}
        complaint = session.scalar(select(Ticket))
        assert complaint.type.value == "complaint" and complaint.closed_at is None


def test_demo_command_says_it_is_a_simulation():
    result = CliRunner().invoke(main, ["demo", "--help"])
    assert result.exit_code == 0 and "SIMULATED" in result.output and "callcenter serve" in result.output
