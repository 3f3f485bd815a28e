"""Calls through the shipped dialplan on a real Asterisk: the carrier (SIPp) calls the
VIP and the ordinary hotline, route_call (the callcenter's FastAGI server, in this
process) decides, the queue rings an agent's phone (a SIPp UAS registered as
agent1001 and agent1003), and we look at the database, the INVITE the phone got,
the recording and the AMI events."""

from __future__ import annotations

import datetime as dt
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import select

from callcenter.db import session_scope
from callcenter.models import Call, CallbackTask

from . import sipp
from .agents import sign_in
from .pbx import free_port

pytestmark = pytest.mark.asterisk

VIP_LINE, ORDINARY_LINE = "4008002000", "4008001000"
# One line per INVITE the phone got (uas_agent.xml); header values keep their leading space.
INVITE_LOG = re.compile(r"INVITE agent=(?P<agent>\S*) queue= ?(?P<queue>\S*) "
                        r"pop_key= ?(?P<pop_key>\S*) caller=(?P<caller>\S*)")
QUEUE_MEMBER_NOT_IN_USE = "1"


def wait_until(read, timeout: float = 20.0, every: float = 0.2):
    """Poll ``read()`` until it returns something true or the time is up."""
    deadline = time.monotonic() + timeout
    value = read()
    while not value and time.monotonic() < deadline:
        time.sleep(every)
        value = read()
    return value


def queue_member(live, queue: str, member: str) -> dict[str, str]:
    _, items = live.ami.list_action("QueueStatus", Queue=queue)
    for item in items:
        if item.get("Event") == "QueueMember" and item.get("Name") == member:
            return item
    return {}


def member_status(live, queue: str, member: str) -> str | None:
    return queue_member(live, queue, member).get("Status")


def ready(live, queue: str, member: str) -> bool:
    """Free and past the wrap-up time after its last call (queues.conf wrapuptime)."""
    item = queue_member(live, queue, member)
    if item.get("Status") != QUEUE_MEMBER_NOT_IN_USE or item.get("Paused") != "0":
        return False
    last_call = int(item.get("LastCall") or 0)
    # A member reports only its own wrapuptime; the queue's (queues.conf) is the
    # settings' ami_wrapup_s.
    wrapup = int(item.get("Wrapuptime") or 0) or live.settings.ami_wrapup_s
    return last_call == 0 or time.time() - last_call > wrapup + 1


def wait_ready(live, queue: str, member: str) -> None:
    assert wait_until(lambda: ready(live, queue, member), timeout=40), queue_member(live, queue, member)


def register(live, phone: sipp.Peer, agent: str, expires: int = 600) -> None:
    peer = sipp.start(f"register_{agent}_{expires}", "uac_register.xml", phone.workdir,
                      remote=f"127.0.0.1:{live.pbx.ports.sip}", inject=[[agent, str(phone.port), str(expires)]],
                      extra=["-au", agent, "-ap", live.pbx.sip_password])
    assert peer.wait(30) == 0, peer.diagnostics()


def invites(phone: sipp.Peer) -> list[dict[str, str]]:
    return [m.groupdict() for line in phone.log_lines() if (m := INVITE_LOG.search(line))]


def calls_from(live, caller: str) -> list[Call]:
    with session_scope(live.settings.database_url) as session:
        return list(session.scalars(select(Call).where(Call.caller_number == caller)))


def callback_tasks(live, number_digits: str) -> list[CallbackTask]:
    with session_scope(live.settings.database_url) as session:
        return [t for t in session.scalars(select(CallbackTask))
                if re.sub(r"\D", "", t.number).endswith(number_digits[1:])]


def call(live, name: str, rows: list[list[str]], *, scenario: str = "uac_hotline.xml",
         hold_ms: int = 6000) -> None:
    """The carrier places these calls (DID, caller number, caller name) and they end."""
    carrier = sipp.start(name, scenario, live.sipp_dir(name), remote=f"127.0.0.1:{live.pbx.ports.sip}",
                         port=live.pbx.ports.trunk, calls=len(rows), inject=rows, hold_ms=hold_ms)
    assert carrier.wait(120) == 0, carrier.diagnostics()


@pytest.fixture(scope="module")
def phone(live):
    """One agent phone on a loopback port, registered as agent1001 and agent1003, signed
    in to vip and general_q; nobody else is a member, so the queue has to pick these two."""
    phone = sipp.start("phone", "uas_agent.xml", live.sipp_dir("phone"), calls=None, hold_ms=1000,
                       extra=["-aa"])   # -aa: answer Asterisk's qualify OPTIONS
    try:
        for agent in ("agent1001", "agent1003"):
            register(live, phone, agent)
        # queues.conf has no members: the agents sign in as the console signs them in.
        sign_in(live, "PJSIP/agent1001", "vip", name="Agent 1001")
        sign_in(live, "PJSIP/agent1003", "general_q", name="Agent 1003")
        for queue, member in (("vip", "Agent 1001"), ("general_q", "Agent 1003")):
            status = wait_until(lambda: member_status(live, queue, member) == QUEUE_MEMBER_NOT_IN_USE)
            assert status, (queue, member, member_status(live, queue, member), live.pbx.cli("pjsip show contacts"))
        yield phone
    finally:
        phone.stop()


def test_vip_and_ordinary_lines_reach_their_queues(live, phone):
    wait_ready(live, "vip", "Agent 1001")
    wait_ready(live, "general_q", "Agent 1003")
    call(live, "two_lines", [[VIP_LINE, "13800138001", "VIP line caller"],
                             [ORDINARY_LINE, "13900139002", "Ordinary line caller"]])
    settings = live.settings

    [vip] = calls_from(live, "13800138001")
    [ordinary] = calls_from(live, "13900139002")
    assert (vip.dialled_number, vip.queue, vip.priority, vip.route_reason) == \
        (VIP_LINE, "vip", settings.priority_vip, "vip_line")
    assert (ordinary.dialled_number, ordinary.queue, ordinary.priority, ordinary.route_reason) == \
        (ORDINARY_LINE, "general_q", settings.priority_normal, "ordinary")

    # The phone rang as the right agent, from the right queue, with the call's keys.
    got = {invite["caller"]: invite for invite in invites(phone)}
    assert got["13800138001"] == {"agent": "agent1001", "queue": "vip",
                                  "pop_key": vip.screen_pop_key, "caller": "13800138001"}
    assert got["13900139002"] == {"agent": "agent1003", "queue": "general_q",
                                  "pop_key": ordinary.screen_pop_key, "caller": "13900139002"}

    # Each conversation was recorded under the name the dialplan gave route_call.
    today = dt.datetime.now(dt.UTC)
    for row in (vip, ordinary):
        assert re.fullmatch(rf"calls/\d{{4}}/\d{{2}}/\d{{2}}/{re.escape(row.uniqueid)}\.wav", row.recording_file)
        assert row.recording_file.startswith(f"calls/{today:%Y}/")
        path = live.pbx.recordings / row.recording_file
        # MixMonitor closes the file just after the hangup; a bridged call has audio.
        assert wait_until(lambda p=path: p.exists() and p.stat().st_size > 44 + 8000), path

    # The AMI user saw the queue at work, and none of the classes it was not granted.
    joins = [m for m in live.ami.events("QueueCallerJoin") if m.get("Uniqueid") in (vip.uniqueid, ordinary.uniqueid)]
    assert {(m["Queue"], m["Uniqueid"]) for m in joins} == {("vip", vip.uniqueid), ("general_q", ordinary.uniqueid)}
    connects = {m["Uniqueid"]: m["Interface"] for m in live.ami.events("AgentConnect")}
    assert connects[vip.uniqueid] == "PJSIP/agent1001" and connects[ordinary.uniqueid] == "PJSIP/agent1003"
    cdrs = [m for m in live.ami.events("Cdr") if m.get("UniqueID") == vip.uniqueid]
    assert cdrs and cdrs[-1]["CC_POP_KEY"] == vip.screen_pop_key and cdrs[-1]["RECORDING_FILE"] == vip.recording_file
    events = {m.get("Event") for m in live.ami.messages}
    assert events.isdisjoint({"VarSet", "Newexten", "RTCPSent", "RTCPReceived", "CEL", "AGIExecStart"})


def test_closed_line_goes_to_the_after_hours_route(live, phone):
    from callcenter.services.setup import hours
    from callcenter.timeutil import to_local

    today = to_local(dt.datetime.now(dt.UTC).replace(tzinfo=None), live.settings.timezone).date()
    with session_scope(live.settings.database_url) as session:
        for day in (today, today + dt.timedelta(days=1)):
            hours.add_override(session, day, "holiday", line_number=ORDINARY_LINE, name="live test")
    try:
        # The caller presses nothing and stays until the callcenter hangs up.
        call(live, "closed_line", [[ORDINARY_LINE, "13600136004", "After hours caller"]],
             scenario="uac_hotline_wait_bye.xml")
    finally:
        with session_scope(live.settings.database_url) as session:
            for day in (today, today + dt.timedelta(days=1)):
                hours.remove_override(session, day, line_number=ORDINARY_LINE)
    [row] = calls_from(live, "13600136004")
    assert (row.queue, row.route_reason, row.status.value) == ("general_q", "holiday", "after_hours")
    [task] = callback_tasks(live, "13600136004")
    assert task.call_id == row.id
    assert "13600136004" not in {i["caller"] for i in invites(phone)}          # no agent rang
    log = live.pbx.log_lines("messages.log")
    assert not any("after_hours ended with" in line for line in log)          # no voicemail fallback


def test_a_dead_callcenter_still_queues_the_call_to_the_line_queue(live, phone):
    wait_ready(live, "vip", "Agent 1001")
    closed = free_port(socket.SOCK_STREAM)
    live.pbx.cli(f"dialplan set global CALLCENTER_AGI agi://127.0.0.1:{closed}")
    try:
        call(live, "callcenter_down", [[VIP_LINE, "13700137003", "Caller while down"]])
    finally:
        live.pbx.cli(f"dialplan set global CALLCENTER_AGI agi://127.0.0.1:{live.pbx.ports.agi}")
    # No calls row (nobody to write it), but the VIP line's defaults reached the VIP agent.
    assert calls_from(live, "13700137003") == []
    got = {invite["caller"]: invite for invite in invites(phone)}
    assert got["13700137003"] == {"agent": "agent1001", "queue": "vip", "pop_key": "", "caller": "13700137003"}
    assert any("route_call ended with FAILURE and no complete decision" in line and "using the line defaults" in line
               for line in live.pbx.log_lines("messages.log"))


def test_a_frozen_callcenter_costs_the_caller_seconds_not_the_call(live, phone, tmp_path):
    """A FastAGI server that accepted the connection and then stopped (SIGSTOP) keeps
    Asterisk waiting: the dialplan's limit on the AGI ends the wait and the call goes
    on to the line's queue."""
    wait_ready(live, "vip", "Agent 1001")
    port = free_port(socket.SOCK_STREAM)
    env = {**os.environ, "CALLCENTER_DATABASE_URL": live.settings.database_url,
           "CALLCENTER_JOURNAL_DIR": str(tmp_path / "journal"), "CALLCENTER_AGI_HOST": "127.0.0.1",
           "CALLCENTER_AGI_PORT": str(port)}
    agi = subprocess.Popen([os.path.join(os.path.dirname(sys.executable), "callcenter"), "agi"], env=env, cwd=tmp_path,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: _listening(port), timeout=30), "callcenter agi did not start"
        os.kill(agi.pid, signal.SIGSTOP)
        live.pbx.cli(f"dialplan set global CALLCENTER_AGI agi://127.0.0.1:{port}")
        started = time.monotonic()
        # The caller stays on the line (SIPp hangs up 15 s after Asterisk answers): past
        # the limit on the AGI, into the queue.
        call(live, "callcenter_frozen", [[VIP_LINE, "13700137004", "Caller while frozen"]], hold_ms=15000)
        took = time.monotonic() - started
    finally:
        live.pbx.cli(f"dialplan set global CALLCENTER_AGI agi://127.0.0.1:{live.pbx.ports.agi}")
        os.kill(agi.pid, signal.SIGCONT)
        agi.terminate()
        agi.wait(20)
    got = {invite["caller"]: invite for invite in invites(phone)}
    assert got["13700137004"]["agent"] == "agent1001" and got["13700137004"]["queue"] == "vip"
    joined = [m for m in live.ami.events("QueueCallerJoin") if m.get("CallerIDNum") == "13700137004"]
    assert joined, "the caller reached the queue"
    assert took < 15 + 10, f"the call took {took:.1f} s"
    assert any("did not finish route_call in time" in line for line in live.pbx.log_lines("messages.log"))


def test_a_decision_cut_half_way_is_not_trusted(live, phone):
    """A route that set some variables and then went away (a FastAGI worker killed
    mid-call: Asterisk still reports AGISTATUS=SUCCESS) without CC_ROUTE_DONE: the
    dialplan keeps the line's defaults instead of half a decision."""
    wait_ready(live, "vip", "Agent 1001")
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def half_route() -> None:
        conn, _ = server.accept()
        with conn, conn.makefile("rwb") as stream:
            while stream.readline().strip():          # the header, up to the empty line
                pass
            for command in (b'SET VARIABLE CC_QUEUE "no_such_queue"\n', b"SET VARIABLE QUEUE_PRIO 0\n"):
                stream.write(command)
                stream.flush()
                stream.readline()                     # 200 result=1
        # closed without CC_ROUTE_DONE: Asterisk reports SUCCESS

    worker = threading.Thread(target=half_route, daemon=True)
    worker.start()
    live.pbx.cli(f"dialplan set global CALLCENTER_AGI agi://127.0.0.1:{port}")
    try:
        call(live, "half_decision", [[VIP_LINE, "13700137005", "Half decided"]])
    finally:
        live.pbx.cli(f"dialplan set global CALLCENTER_AGI agi://127.0.0.1:{live.pbx.ports.agi}")
        server.close()
    got = {invite["caller"]: invite for invite in invites(phone)}
    assert got["13700137005"]["agent"] == "agent1001" and got["13700137005"]["queue"] == "vip"
    assert any("route_call ended with SUCCESS and no complete decision" in line
               for line in live.pbx.log_lines("messages.log"))


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def test_no_reachable_agent_offers_a_callback(live, phone):
    register(live, phone, "agent1003", expires=0)      # general_q now has nobody reachable
    try:
        assert wait_until(lambda: member_status(live, "general_q", "Agent 1003") not in
                          (QUEUE_MEMBER_NOT_IN_USE, None))
        # The caller hangs up at the closed greeting.
        call(live, "nobody_there", [[ORDINARY_LINE, "13500135005", "Caller nobody answers"]], hold_ms=3000)
    finally:
        register(live, phone, "agent1003")
    [row] = calls_from(live, "13500135005")
    assert (row.queue, row.route_reason) == ("general_q", "ordinary")
    assert wait_until(lambda: callback_tasks(live, "13500135005"))
    # joinempty=unavailable,invalid kept the caller out of the queue at once.
    assert any(f"{row.uniqueid} not answered in queue general_q: JOINEMPTY" in line
               for line in live.pbx.log_lines("messages.log"))
    assert "13500135005" not in {i["caller"] for i in invites(phone)}


def test_follow_up_call_is_originated_into_the_survey_context(live, phone):
    # What the scheduler will do for a follow-up survey (回访), with the AMI user's
    # own privileges: Originate into [survey], which hands the call to the survey route.
    wait_ready(live, "vip", "Agent 1001")
    start = len(live.ami.messages)
    response = live.ami.action("Originate", Channel="PJSIP/agent1001", Context="survey", Exten="s",
                               Priority="1", Variable="CC_SURVEY_ID=4242", CallerID="Survey <4008001000>",
                               Timeout="15000", Async="true")
    assert response["Response"] == "Success", response
    outcome = live.ami.wait_for(lambda m: m.get("Event") == "OriginateResponse"
                                and m.get("ActionID") == response["ActionID"], timeout=30, start=start)
    assert (outcome["Response"], outcome["Reason"]) == ("Success", "4")     # 4: answered
    assert live.ami.wait_for(lambda m: m.get("Event") == "Hangup" and m.get("Uniqueid") == outcome["Uniqueid"],
                             timeout=30, start=start)
    ran = [line for line in live.pbx.log_lines("full.log") if "@survey:" in line and "AGI(" in line]
    assert ran and ran[-1].endswith(f'"agi://127.0.0.1:{live.pbx.ports.agi}/survey,4242") in new stack')


def test_calls_nobody_followed_are_backfilled_from_asterisks_cdr_store(live, phone, tmp_path):
    """While the callcenter was down (dead, frozen, half a decision) Asterisk still
    wrote every call into cdr-custom/callcenter.csv: the backfill finds those calls, who
    answered them and who was abandoned, in the format Asterisk really writes."""
    from callcenter import migrate
    from callcenter.services.calls import cdr_backfill

    path = live.pbx.log_dir / "cdr-custom" / "callcenter.csv"
    assert wait_until(lambda: path.exists() and "13700137004" in path.read_text()), "no CDR for the frozen call"
    lines = [cdr_backfill.parse_line(raw) for raw in path.read_text(encoding="utf-8").splitlines()]
    by_caller = {line.caller_number: line for line in lines if line is not None}
    answered = by_caller["13800138001"]
    assert (answered.agent, answered.queue, answered.context) == ("PJSIP/agent1001", "vip", "cc-inbound")
    assert answered.pop_key and answered.talk_s >= 5 and answered.end > answered.start
    down = by_caller["13700137003"]                     # the dead callcenter: defaults, answered
    assert down.agent == "PJSIP/agent1001" and down.pop_key == ""
    nobody = by_caller["13500135005"]                   # nobody reachable: JOINEMPTY, then after_hours
    assert nobody.agent == "" and nobody.queue_status == "JOINEMPTY"
    # Backfilled into an empty call log: a row for each hotline call, callbacks for the
    # callers nobody answered, none for the answered ones; twice changes nothing.
    url = f"sqlite:///{tmp_path}/backfill.db"
    migrate.upgrade(url)
    hotline = [line for line in lines if line is not None]
    for _ in range(2):
        with session_scope(url) as session:
            cdr_backfill.backfill(session, hotline, region="CN", callback_due=dt.timedelta(hours=2))
    with session_scope(url) as session:
        rows = {c.caller_number: c for c in session.scalars(select(Call))}
        tasks = {t.number for t in session.scalars(select(CallbackTask))}
    assert rows["13700137003"].status.value == "completed" and rows["13700137003"].route_reason == "asterisk_only"
    assert rows["13500135005"].abandoned is False or rows["13500135005"].status.value in ("abandoned", "after_hours")
    assert "+8613700137003" not in tasks and "+8613800138001" not in tasks
    assert "+8613500135005" in tasks and len(tasks) == len(set(tasks))
