"""The IVR routes over the real FastAGI server, against a peer that answers like Asterisk 22
(see asterisk_peer.py for the reply shapes and where they were recorded)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from callcenter.agi.handlers import after_hours as after_hours_route
from callcenter.agi.handlers import ivr as ivr_route
from callcenter.agi.registry import Registry, Route
from callcenter.agi.server import FastAGIServer
from callcenter.db import session_scope
from callcenter.ivr.loader import all_prompts, load_flows
from callcenter.ivr.sounds import build_prompts
from callcenter.models import CallbackReason, CallbackTask

from .asterisk_peer import FakeAsterisk, recorded_header
from .conftest import HANGUP, HASH, SHIPPED_FLOWS, TIMEOUT, Step

pytestmark = pytest.mark.skipif(
    not (shutil.which("espeak-ng") and shutil.which("sox")),
    reason="the peer plays real prompt files: apt-get install espeak-ng sox")


@pytest.fixture(scope="session")
def built_prompts(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("prompts")
    build_prompts(all_prompts(load_flows(SHIPPED_FLOWS)), out)
    return out


SERVER = {"agi_header_timeout_s": 2.0, "agi_command_timeout_s": 5.0, "agi_route_budget_s": 2.0}


@pytest.fixture
def agi_settings(settings, built_prompts):
    """For the after_hours route: a real database (SQLite and PostgreSQL)."""
    return settings.model_copy(update={"ivr_flows_dir": SHIPPED_FLOWS, "prompts_dir": built_prompts,
                                       **SERVER})


@pytest.fixture
def ivr_agi_settings(ivr_settings, built_prompts):
    """For the ivr route, which touches no database."""
    return ivr_settings.model_copy(update={"prompts_dir": built_prompts, **SERVER})


def registry() -> Registry:
    routes = Registry()
    routes.add(Route("ivr", ivr_route.ivr, ivr_route.fallback_variables))
    routes.add(Route("after_hours", after_hours_route.after_hours))
    return routes


def call(settings, route: str, *steps: Step, transcript="1e_ivr_result_variants", callerid=None,
         variables=None, args=()):
    """One call through the real server; returns (peer log, server outcome counts)."""

    async def scenario():
        server = FastAGIServer(settings, registry(), host="127.0.0.1", port=0)
        await server.start()
        try:
            peer = FakeAsterisk(recorded_header(transcript, route, callerid, args), list(steps), variables)
            log = await peer.call(server.port)
            assert not peer.steps, f"caller script not finished: {peer.steps}; {log.commands}"
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 3
            while server.active_sessions and loop.time() < deadline:
                await asyncio.sleep(0.005)
            outcomes = {k: v for k, v in server.stats.items() if k != "sessions"}
            return log, outcomes
        finally:
            await server.stop(grace_s=2.0)

    return asyncio.run(scenario())


def sound(settings, prompt_id: str) -> str:
    return str(Path(settings.prompts_dir).absolute() / prompt_id)


def test_ivr_route_sets_the_category_for_the_dialplan(ivr_agi_settings):
    log, stats = call(
        ivr_agi_settings, "ivr?flow=main",
        Step("stream", "main_greeting"),
        Step("get_data", "main_menu", "3"),
        Step("get_data", "complaint_menu", "1"),
        Step("stream", "to_complaint"),
    )
    assert stats == {"completed": 1}
    # Before each step the route moves the dialplan's limit on the AGI ahead of it
    # (agi_guard_s + 15 s per prompt + the time the caller has to press).
    assert log.commands[:5] == [
        "ANSWER",
        "SET VARIABLE TIMEOUT(absolute) 21",
        f'STREAM FILE {sound(ivr_agi_settings, "main_greeting")} 01234589',
        "SET VARIABLE TIMEOUT(absolute) 41",
        f'GET DATA {sound(ivr_agi_settings, "main_menu")} 5000 1',
    ]
    assert log.variables == {"CC_CATEGORY": "complaint", "CC_QUEUE": ivr_agi_settings.default_queue,
                             "CC_IVR_ACTION": "queue", "CC_IVR_PATH": "main,key:3,complaint,key:1",
                             "TIMEOUT(absolute)": "41"}
    assert log.closed_by_us and not log.hangup_sent


def test_every_get_data_reply_shape(ivr_agi_settings):
    log, stats = call(
        ivr_agi_settings, "ivr?flow=main",
        Step("stream", "main_greeting", "2"),             # 200 result=50 endpos=9440
        Step("get_data", "repair_menu", TIMEOUT),          # 200 result= (timeout)
        Step("stream", "no_input"),
        Step("get_data", "repair_menu", HASH),             # 200 result=
        Step("stream", "invalid"),
        Step("get_data", "repair_menu", "34 (timeout)"),   # 200 result=34 (timeout)
        Step("stream", "to_repair"),
    )
    assert stats == {"completed": 1}
    assert log.variables["CC_IVR_PATH"] == "main,key:2,repair,timeout,invalid:#,invalid:34,default"
    assert log.variables["CC_CATEGORY"] == "repair"


def test_hangup_during_a_menu(ivr_agi_settings):
    log, stats = call(
        ivr_agi_settings, "ivr",
        Step("stream", "main_greeting"),
        Step("get_data", "main_menu", "5"),
        Step("get_data", "order_menu", HANGUP),            # 200 result=-1, then HANGUP
        args=("main",),                                    # AGI(agi://host/ivr,main)
    )
    assert stats == {"hangup": 1}
    assert log.hangup_sent
    assert "CC_CATEGORY" not in log.variables              # nothing to route: the caller is gone
    # Nothing is sent after the hangup: no 511s, no variables for a dead call.
    assert log.commands[-1] == f'GET DATA {sound(ivr_agi_settings, "order_menu")} 5000 1'
    assert log.commands[0] == "ANSWER"


def test_missing_sound_file_is_skipped_not_fatal(ivr_agi_settings, tmp_path):
    prompts = tmp_path / "prompts"
    shutil.copytree(ivr_agi_settings.prompts_dir, prompts)
    (prompts / "main_greeting.wav").unlink()
    settings = ivr_agi_settings.model_copy(update={"prompts_dir": prompts})
    log, stats = call(
        settings, "ivr?flow=main",
        Step("stream", "main_greeting"),                   # 200 result=-1 endpos=0, no HANGUP
        Step("get_data", "main_menu", "1"),
        Step("stream", "to_consultation"),
    )
    assert stats == {"completed": 1}
    assert b"200 result=-1 endpos=0" in log.replies
    assert log.variables["CC_CATEGORY"] == "consultation"


def test_unknown_flow_falls_back_to_the_default_queue(ivr_agi_settings):
    log, stats = call(ivr_agi_settings, "ivr?flow=nope")
    assert stats == {"fallback": 1}
    assert log.variables["CC_QUEUE"] == ivr_agi_settings.default_queue
    assert log.variables["CC_IVR_ACTION"] == "queue"


def _tasks(settings):
    with session_scope(settings.database_url) as s:
        return [(t.reason, t.number, t.message_file) for t in s.scalars(select(CallbackTask))]


def test_after_hours_message_over_fastagi(agi_settings):
    log, stats = call(
        agi_settings, "after_hours",
        Step("stream", "ah_greeting"),
        Step("get_data", "ah_menu", "1"),
        Step("stream", "ah_record_intro"),
        Step("record", "message", "dtmf"),
        Step("stream", "ah_message_saved"),
        transcript="1c2_record_file_caller_hangup",
    )
    assert stats == {"completed": 1}
    [record] = [c for c in log.commands if c.startswith("RECORD FILE")]
    assert record.endswith(' wav # 60000 0 BEEP s=6')
    [(reason, number, message)] = _tasks(agi_settings)
    assert (reason, number) == (CallbackReason.VOICEMAIL, "+8613800138000")
    assert (Path(agi_settings.recordings_dir) / message).stat().st_size == 48044


def test_after_hours_hangup_while_recording(agi_settings):
    log, stats = call(
        agi_settings, "after_hours",
        Step("stream", "ah_greeting"),
        Step("get_data", "ah_menu", "1"),
        Step("stream", "ah_record_intro"),
        Step("record", "message", "hangup"),               # 200 result=-1 (hangup) endpos=24000
        transcript="1c2_record_file_caller_hangup",
    )
    assert stats == {"hangup": 1}
    assert log.hangup_sent
    [(reason, _, message)] = _tasks(agi_settings)
    assert reason == CallbackReason.VOICEMAIL and message.startswith("messages/")
    # Nothing but variable reads after the hangup (no 511 from media commands).
    assert b"511 Command Not Permitted on a dead channel or intercept routine" not in log.replies


def test_after_hours_anonymous_hangup_during_greeting_leaves_no_task(agi_settings):
    log, stats = call(agi_settings, "after_hours", Step("stream", "ah_greeting", HANGUP),
                      transcript="1c2_record_file_caller_hangup", callerid="anonymous")
    assert stats == {"hangup": 1}
    assert _tasks(agi_settings) == []


def test_after_hours_reads_the_call_id_even_after_a_hangup(agi_settings, session):
    from callcenter.models import Call

    call_row = Call(uniqueid="other", linkedid="other", caller_number="13900139000")
    session.add(call_row)
    session.commit()
    log, stats = call(agi_settings, "after_hours", Step("stream", "ah_greeting", HANGUP),
                      transcript="1c2_record_file_caller_hangup",
                      variables={"CC_CALL_ID": str(call_row.id)})
    assert log.commands[0] == "GET VARIABLE CC_CALL_ID"
    # The calls row's number wins over the header's: it is what route_call saw.
    assert _tasks(agi_settings) == [(CallbackReason.AFTER_HOURS, "+8613900139000", "")]


@pytest.mark.parametrize("route, args, expected", [
    ("ivr?flow=vip", (), "vip"),
    ("ivr?vip", (), "vip"),
    ("ivr", ("vip",), "vip"),
])
def test_ivr_route_flow_name(ivr_agi_settings, route, args, expected):
    log, stats = call(ivr_agi_settings, route, Step("stream", "vip_greeting", HANGUP), args=args)
    assert stats == {"hangup": 1}


@pytest.mark.parametrize("route, args", [("ivr", ()), ("ivr?flow=../etc/passwd", ()), ("ivr", ("a b",))])
def test_ivr_route_without_a_usable_flow_name(ivr_agi_settings, route, args, caplog):
    log, stats = call(ivr_agi_settings, route, args=args)
    assert stats == {"fallback": 1}
    assert "no usable flow name" in caplog.text
    assert log.variables["CC_QUEUE"] == ivr_agi_settings.default_queue


def test_unanswered_queue_over_fastagi(agi_settings, session):
    from callcenter.models import Call
    from callcenter.services.calls.callbacks import create_callback

    header_uniqueid = "1795344468.12"      # agi_uniqueid of the recorded 1c2 header
    call_row = Call(uniqueid=header_uniqueid, linkedid=header_uniqueid, caller_number="13800138000")
    session.add(call_row)
    session.flush()
    create_callback(session, number="13800138000", reason=CallbackReason.ABANDONED, call_id=call_row.id)
    session.commit()
    log, stats = call(
        agi_settings, "after_hours",
        Step("stream", "na_greeting"),
        Step("get_data", "ah_menu", "2"),
        Step("stream", "ah_callback_number"),
        Step("stream", "digit_1", "1"),                    # confirms before the number ends
        Step("stream", "ah_callback_done"),
        transcript="1c2_record_file_caller_hangup", args=(header_uniqueid, "TIMEOUT"),
    )
    assert stats == {"completed": 1}
    assert _tasks(agi_settings) == [(CallbackReason.ABANDONED, "+8613800138000", "")]
