"""The whole follow-up loop without a live Asterisk: the dispatch job claims the due
surveys, the dialer originates them against the AMI emulator (which answers with the
response streams of transcript 3d2: answered Reason 4, busy Reason 0 after a Cause 17
hangup, no answer Reason 3, unknown endpoint Reason 0 at once), the answered call runs
the survey route over the real FastAGI server against a peer that replies like
Asterisk 22 (header of transcript 3d_survey_on_originated_call_hungup_by_ami), and the
customer's 3 (不满意) reopens the ticket and flags the call it was logged from for QA."""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
import time
from pathlib import Path

import pytest
from ivr.asterisk_peer import FakeAsterisk, recorded_header
from ivr.conftest import SHIPPED_FLOWS, Step
from sqlalchemy import select

from callcenter.agi.handlers import survey as survey_route
from callcenter.agi.registry import Registry
from callcenter.agi.server import FastAGIServer
from callcenter.ami.survey_dialer import SurveyDialer
from callcenter.db import session_scope, utcnow
from callcenter.ivr.loader import all_prompts, clear_cache, load_flows
from callcenter.ivr.sounds import build_prompts
from callcenter.models import Call, QaFlag, SurveyAttempt, SurveyRequest, SurveyStatus, Ticket, TicketStatus
from callcenter.scheduler import jobs
from callcenter.services.qa.flags import SURVEY_DISSATISFIED
from callcenter.services.surveys import dispatch, requests
from callcenter.services.surveys.answers import survey_answer_for_call
from callcenter.simulation.ami.state import ANSWER, BUSY, NOANSWER
from callcenter.simulation.ami.thread import EmulatorThread

from .conftest import closed_ticket

pytestmark = pytest.mark.skipif(not (shutil.which("espeak-ng") and shutil.which("sox")),
                                reason="the peer plays real prompt files: apt-get install espeak-ng sox")
SECRET = "survey-test-secret"
NUMBERS = {"13800138000": ANSWER, "13900139000": BUSY, "13700137000": NOANSWER, "13600136000": None}


@pytest.fixture(scope="module")
def built_prompts(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prompts")
    clear_cache()
    build_prompts(all_prompts(load_flows(SHIPPED_FLOWS)), out)
    return out


@pytest.fixture
def emulator():
    endpoints = {f"PJSIP/{n}": b for n, b in NUMBERS.items() if b is not None}
    emu = EmulatorThread(secret=SECRET, boot_delay_s=0.05, originate_ring_s=0.05, endpoints=endpoints).start()
    yield emu
    emu.stop()


@pytest.fixture
def loop_settings(settings, emulator, built_prompts):
    return settings.model_copy(update={
        "ami_host": emulator.host, "ami_port": emulator.port, "ami_secret": SECRET, "ami_reconnect_max_s": 0.4,
        "survey_dial": "PJSIP/{number}", "survey_ring_timeout_s": 5, "survey_calls_per_minute": 600,
        "ivr_flows_dir": SHIPPED_FLOWS, "prompts_dir": built_prompts,
        "agi_header_timeout_s": 2.0, "agi_command_timeout_s": 5.0, "agi_route_budget_s": 3.0})


def wait_for(condition, timeout=15.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def survey_call(settings, attempt_id: int, *steps: Step):
    """The answered channel runs AGI(agi://…/survey,<attempt id>) as in transcript 3d."""
    header = recorded_header("3d_survey_on_originated_call_hungup_by_ami", "survey")
    header = header.replace(b"agi_arg_1: 42", f"agi_arg_1: {attempt_id}".encode())

    async def scenario():
        server = FastAGIServer(settings, Registry([survey_route.ROUTE]), host="127.0.0.1", port=0)
        await server.start()
        try:
            peer = FakeAsterisk(header, list(steps), {"CC_SURVEY_ID": str(attempt_id)})
            log = await peer.call(server.port)
            assert not peer.steps, f"customer script not finished: {peer.steps}; {log.commands}"
            deadline = asyncio.get_running_loop().time() + 3
            while server.active_sessions and asyncio.get_running_loop().time() < deadline:
                await asyncio.sleep(0.01)
            return log
        finally:
            await server.stop(grace_s=2.0)

    return asyncio.run(scenario())


def test_dial_answer_dissatisfied_reopens_and_flags(loop_settings, session, agent, emulator):
    settings = loop_settings
    call = Call(uniqueid="1795344600.1", linkedid="1795344600.1", caller_number="13800138000")
    session.add(call)
    session.flush()
    tickets = {n: closed_ticket(session, settings, agent, phone=n, linkedid="1795344600.1" if n == "13800138000"
                                else "", closed_at=utcnow() - dt.timedelta(minutes=5)) for n in NUMBERS}
    for number in NUMBERS:                         # any hour of any day is fine for these customers
        requests.set_contact(session, number, preferred=(dt.time(0, 0), dt.time(23, 59, 59)))
    session.commit()

    dialer = SurveyDialer(settings).start()
    try:
        assert dialer.wait_connected(10)
        jobs.configure(settings, dialer=dialer)
        assert jobs.survey_dispatch() == 4
        attempts = wait_for(lambda: _settled(settings), what="four Originate answers")
    finally:
        jobs.configure(None)
        dialer.stop()

    by_number = {a.number: a for a in attempts}
    originates = [a.message for a in emulator.actions if a.message.get("Action") == "Originate"]
    assert sorted(m.get("ActionID") for m in originates) == sorted(f"survey-{a.id}" for a in attempts)
    assert {m.get("Variable") for m in originates} == {f"CC_SURVEY_ID={a.id}" for a in attempts}
    assert all(m.get("Context") == "survey" and m.get("Async").lower() == "true" for m in originates)
    assert all(m.get("Account") == m.get("ActionID") for m in originates)      # busy is told by AccountCode
    assert (by_number["13900139000"].outcome, by_number["13900139000"].reason) == (dispatch.BUSY, 0)
    assert (by_number["13700137000"].outcome, by_number["13700137000"].reason) == (dispatch.NO_ANSWER, 3)
    assert (by_number["13600136000"].outcome, by_number["13600136000"].reason) == (dispatch.FAILED, 0)
    answered = by_number["13800138000"]
    assert answered.outcome == "" and answered.reason == 4 and answered.answered_at is not None

    log = survey_call(settings, answered.id,
                      Step("stream", "sv_greeting"), Step("get_data", "sv_q_service", "3"),
                      Step("stream", "sv_comment_offer"), Step("record", "message", "dtmf"),
                      Step("stream", "sv_comment_done"), Step("stream", "sv_thanks"))
    assert "HANGUP" in log.commands

    session.expire_all()
    attempt = session.get(SurveyAttempt, answered.id)
    assert (attempt.outcome, attempt.satisfaction, attempt.answers) == (dispatch.COMPLETED, "不满意", {"q_service": 3})
    assert attempt.comment_file.startswith("surveys/") and (settings.recordings_dir / attempt.comment_file).is_file()
    survey = session.get(SurveyRequest, attempt.survey_id)
    assert survey.status == SurveyStatus.DONE and survey.satisfaction == "不满意"
    reopened = session.get(Ticket, tickets["13800138000"].id)
    assert reopened.status == TicketStatus.REOPENED and reopened.owner_id == agent.id     # 首问负责制
    (flag,) = session.scalars(select(QaFlag))
    assert (flag.call_id, flag.reason) == (call.id, SURVEY_DISSATISFIED)
    assert survey_answer_for_call(session, call.id)["satisfaction"] == "不满意"
    assert survey_answer_for_call(session, attempt.call_id)["answers"] == {"q_service": 3}

    busy = session.get(SurveyRequest, by_number["13900139000"].survey_id)
    assert busy.status == SurveyStatus.PENDING and busy.next_attempt_at > utcnow() + dt.timedelta(minutes=100)


def test_a_customer_who_hangs_up_midway_is_called_again(loop_settings, session, agent):
    settings = loop_settings
    closed_ticket(session, settings, agent, closed_at=utcnow() - dt.timedelta(minutes=5))
    requests.set_contact(session, "13800138000", preferred=(dt.time(0, 0), dt.time(23, 59, 59)))
    claims = dispatch.claim_due(session, settings, utcnow(), horizon_s=60)
    session.commit()
    (claim,) = claims
    survey_call(settings, claim.attempt_id, Step("stream", "sv_greeting"), Step("get_data", "sv_q_service", "<hangup>"))
    session.expire_all()
    attempt = session.get(SurveyAttempt, claim.attempt_id)
    assert attempt.outcome == dispatch.HUNG_UP and attempt.answered_at is not None
    assert session.get(SurveyRequest, claim.survey_id).next_attempt_at is not None     # a retry


def _settled(settings):
    with session_scope(settings.database_url) as s:
        rows = list(s.scalars(select(SurveyAttempt).order_by(SurveyAttempt.id)))
        s.expunge_all()
    if len(rows) == 4 and all(a.outcome or a.reason == 4 for a in rows):
        return rows
    return None
