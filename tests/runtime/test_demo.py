"""``callcenter demo``: simulated calls go through the real FastAGI socket, the AMI
emulator and the real listener, and end up as complete call records."""

from __future__ import annotations

import time

from click.testing import CliRunner
from sqlalchemy import select

from callcenter.cli import main
from callcenter.config import Settings
from callcenter.db import session_scope
from callcenter.models import Call, CallStatus, Ticket, User
from callcenter.runtime import AllInOne
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
    assert call.answered_by_interface.startswith("PJSIP/agent100")
    assert call.talk_seconds is not None and call.queued_at is not None


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
