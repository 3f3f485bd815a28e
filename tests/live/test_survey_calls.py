"""Follow-up calls (回访) through a real Asterisk: the survey dialer originates into the
project's [survey] context over the carrier trunk (a SIPp peer plays the customer), the
survey route runs over FastAGI. A customer who presses 3 (不满意) reopens the ticket; a
busy customer (486) gets a retry scheduled."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import select

from callcenter.ami.survey_dialer import SurveyDialer
from callcenter.db import session_scope, utcnow
from callcenter.models import QaFlag, Role, SurveyAttempt, SurveyRequest, Ticket, TicketStatus, User
from callcenter.scheduler import jobs
from callcenter.services.surveys import dispatch, requests
from callcenter.services.tickets.tickets import close_ticket, create_ticket

from . import sipp

pytestmark = pytest.mark.asterisk
# The trunk's qualify (OPTIONS every 60 s) reaches the peer playing the customer: SIPp
# answers it with 200 OK instead of aborting the scenario (and, as each OPTIONS counts as
# a call of its own, the peers serve until stopped rather than for one call).
QUALIFY_OK = ["-aa"]


@pytest.fixture(scope="module")
def survey_settings(live):
    return live.settings.model_copy(update={
        "ami_host": "127.0.0.1", "ami_port": live.pbx.ports.ami, "ami_username": "callcenter",
        "ami_secret": live.pbx.ami_secret, "survey_dial": "PJSIP/{number}@trunk-provider",
        "survey_ring_timeout_s": 15})


@pytest.fixture(scope="module")
def dialer(survey_settings):
    dialer = SurveyDialer(survey_settings).start()
    assert dialer.wait_connected(15)
    jobs.configure(survey_settings, dialer=dialer)
    yield dialer
    jobs.configure(None)
    dialer.stop()


def closed_complaint(settings, number: str) -> int:
    import callcenter.services.surveys  # noqa: F401 - the survey receivers on the ticket signals

    with session_scope(settings.database_url) as session:
        owner = session.scalars(select(User).where(User.username == "survey_owner")).first()
        if owner is None:
            owner = User(username="survey_owner", role=Role.AGENT, display_name="小王", password_hash="x")
            session.add(owner)
            session.flush()
        ticket = create_ticket(session, settings, actor=owner, type="complaint", subject="保洁投诉",
                               contact_phone=number, severity="ordinary", urgency="urgent",
                               fields={"complainant": "张三", "channel": "phone", "target": "保洁员态度"})
        close_ticket(session, settings, ticket, actor=owner, resolution="已处理")
        requests.set_contact(session, number, preferred=(dt.time(0, 0), dt.time(23, 59, 59)))
        return ticket.id


def trunk_reachable(live) -> None:
    """Asterisk dials no contact its qualify marked unreachable (while no peer sat on the
    trunk port): ask for a qualify now and wait until the peer's 200 OK is seen."""
    live.pbx.cli("pjsip qualify trunk-provider")
    wait_for(lambda: "Avail" in live.pbx.cli("pjsip show contacts", check=False)
             and "Unavail" not in live.pbx.cli("pjsip show aor trunk-provider", check=False), timeout=20)


def wait_for(read, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = read()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def attempt_of(settings, ticket_id: int) -> SurveyAttempt | None:
    with session_scope(settings.database_url) as session:
        attempt = session.scalars(select(SurveyAttempt).join(SurveyRequest, SurveyRequest.id == SurveyAttempt.survey_id)
                                  .where(SurveyRequest.ticket_id == ticket_id)).first()
        if attempt is not None:
            session.expunge(attempt)
        return attempt


def test_a_customer_who_presses_3_reopens_the_ticket(live, survey_settings, dialer):
    customer = sipp.start("survey_customer", "uas_survey_customer.xml", live.sipp_dir("survey_customer"),
                          port=live.pbx.ports.trunk, calls=None, hold_ms=2500, extra=QUALIFY_OK)
    try:
        trunk_reachable(live)
        ticket_id = closed_complaint(survey_settings, "13800138000")
        assert jobs.survey_dispatch() == 1
        attempt = wait_for(lambda: (a := attempt_of(survey_settings, ticket_id)) and a.outcome and a)
    finally:
        customer.stop()
    assert (attempt.outcome, attempt.reason, attempt.answers) == (dispatch.COMPLETED, 4, {"q_service": 3}), \
        live.pbx.tail("full.log")
    assert any("number=13800138000 " in line for line in customer.log_lines())
    with session_scope(survey_settings.database_url) as session:
        assert session.get(Ticket, ticket_id).status == TicketStatus.REOPENED
        assert session.scalars(select(QaFlag).where(QaFlag.call_id == attempt.call_id)).first() is not None


def test_a_busy_customer_gets_a_retry(live, survey_settings, dialer):
    busy = sipp.start("survey_busy", "uas_busy.xml", live.sipp_dir("survey_busy"), port=live.pbx.ports.trunk,
                      calls=None, extra=QUALIFY_OK)
    try:
        trunk_reachable(live)
        ticket_id = closed_complaint(survey_settings, "13900139000")
        before = utcnow()
        assert jobs.survey_dispatch() == 1
        attempt = wait_for(lambda: (a := attempt_of(survey_settings, ticket_id)) and a.outcome and a)
    finally:
        busy.stop()
    assert (attempt.outcome, attempt.reason) == (dispatch.BUSY, 0)            # 486 comes back as Reason 0
    with session_scope(survey_settings.database_url) as session:
        survey = session.get(SurveyRequest, attempt.survey_id)
        assert survey.attempts == 1 and survey.next_attempt_at >= before + dt.timedelta(minutes=119)
