"""The route_call handler: what it reads from the AGI header, how it drives the IVR, and
what it records when the caller leaves. The channel is a spec'd fake of our AGIChannel;
the context, the registry's failure policy, the services, the IVR engine and the
database are the real ones."""

from __future__ import annotations

import asyncio
import logging
from unittest.mock import create_autospec

import pytest
from sqlalchemy import select

from callcenter.agi import protocol
from callcenter.agi import variables as V
from callcenter.agi.channel import AGIChannel, AGIHangup, DigitsResult, StreamResult
from callcenter.agi.context import AGIContext
from callcenter.agi.handlers import default_registry
from callcenter.agi.protocol import AGIReply
from callcenter.agi.recorder import CallRecorder
from callcenter.agi.registry import run_route
from callcenter.db import engine_for, session_scope
from callcenter.models import Call, CallStatus
from callcenter.services.calls import routing
from callcenter.services.people import customers
from callcenter.services.setup import defaults, lines

FLOW = """\
description: test menu
root: main
defaults:
  timeout_s: 3
  retries: 1
  default: {queue: human}
prompts:
  menu: 投诉请按3，留言请按8，挂机请按9。
  complaint_menu: 服务投诉请按1。
nodes:
  main:
    prompt: menu
    keys:
      "3": {goto: complaint}
      "8": voicemail
      "9": hangup
  complaint:
    prompt: complaint_menu
    keys:
      "1": {queue: complaint, queue_name: complaints_q}
"""


def header(extension="4008001000", callerid="13800138000", name="张三", uniqueid="1795344550.26",
           args=("1795344550.25",), dnid=None, extra_lines=()) -> list[str]:
    lines_ = [
        "agi_network: yes", "agi_network_script: route_call", "agi_request: agi://127.0.0.1:4573/route_call",
        "agi_channel: PJSIP/trunk-0000000d", "agi_language: en", "agi_type: PJSIP",
        f"agi_uniqueid: {uniqueid}", "agi_version: 22.10.1", f"agi_callerid: {callerid}",
        f"agi_calleridname: {name}", *extra_lines, "agi_callingpres: 0", "agi_callingani2: 0",
        "agi_callington: 0", "agi_callingtns: 0", f"agi_dnid: {dnid or extension}", "agi_rdnis: unknown",
        "agi_context: hotline", f"agi_extension: {extension}", "agi_priority: 2", "agi_enhanced: 0.0",
        "agi_accountcode: ", "agi_threadid: 140459340142272",
    ]
    lines_ += [f"agi_arg_{n}: {value}" for n, value in enumerate(args, start=1)]
    return lines_ + [""]


def fake_channel(head: list[str]) -> AGIChannel:
    channel = create_autospec(AGIChannel, instance=True)
    channel.request = protocol.parse_header(head)
    channel.hung_up = False
    channel.answer.return_value = None
    channel.stream_file.return_value = StreamResult(digit=None, endpos=8000)
    return channel


def keys(*pressed: str):
    """GET DATA replies: the caller presses these keys, one per menu."""
    return [DigitsResult(digits=k, timed_out=False) for k in pressed]


@pytest.fixture
def flows(settings, tmp_path):
    directory = tmp_path / "flows"
    directory.mkdir()
    (directory / "main.yaml").write_text(FLOW, encoding="utf-8")
    return settings.model_copy(update={"ivr_flows_dir": directory})


@pytest.fixture
def seeded(flows):
    with session_scope(flows.database_url) as session:
        defaults.setup_defaults(session)
        lines.add_queue(session, "complaints_q", "general")
        vip = customers.create_customer(session, name="李四", numbers=["13900139000"], tier="vip")
        vip_id = vip.id
    return flows, vip_id


def run(channel, settings) -> str:
    async def runner(fn, args, kw):        # the server runs these in its DB thread pool
        return fn(*args, **kw)

    entry = default_registry().get("route_call")
    ctx = AGIContext(settings, channel.request.get("uniqueid"), runner, entry.name)
    return asyncio.run(run_route(entry, channel, ctx))


def sent_variables(channel) -> dict[str, str]:
    channel.set_variables.assert_awaited_once()
    return channel.set_variables.await_args.args[0]


def row(settings, uniqueid="1795344550.26") -> Call:
    with session_scope(settings.database_url) as session:
        return session.scalars(select(Call).where(Call.uniqueid == uniqueid)).one()


def test_vip_line_without_ivr(seeded, monkeypatch):
    settings, _ = seeded
    monkeypatch.setattr("callcenter.services.calls.routing.utcnow", lambda: _monday_10())
    channel = fake_channel(header(extension="4008002000"))
    assert run(channel, settings) == "completed"
    variables = sent_variables(channel)
    assert (variables[V.ROUTE], variables[V.QUEUE], variables[V.QUEUE_PRIO], variables[V.ROUTE_REASON]) == \
        ("queue", "vip", "10", "vip_line")
    call = row(settings)
    assert call.linkedid == "1795344550.25" and V.CALL_ID not in variables   # written behind the route
    assert variables[V.POP_KEY] == call.screen_pop_key and variables[V.ROUTE_DONE] == "1"
    channel.get_data.assert_not_awaited()


def test_ivr_choice_reaches_the_decision_and_the_row(seeded, monkeypatch):
    settings, _ = seeded
    monkeypatch.setattr("callcenter.services.calls.routing.utcnow", lambda: _monday_10())
    channel = fake_channel(header())
    channel.get_data.side_effect = keys("3", "1")
    assert run(channel, settings) == "completed"
    variables = sent_variables(channel)
    assert (variables[V.QUEUE], variables[V.CATEGORY], variables[V.ROUTE_REASON]) == \
        ("complaints_q", "complaint", "ordinary")
    call = row(settings)
    assert call.ivr_path == ["main", "key:3", "complaint", "key:1"] and call.category == "complaint"


def test_vip_customer_skips_the_flows_queue(seeded, monkeypatch):
    settings, vip_id = seeded
    monkeypatch.setattr("callcenter.services.calls.routing.utcnow", lambda: _monday_10())
    channel = fake_channel(header(callerid="+86 139 0013 9000"))
    channel.get_data.side_effect = keys("3", "1")
    run(channel, settings)
    variables = sent_variables(channel)
    assert (variables[V.QUEUE], variables[V.ROUTE_REASON], variables[V.CUSTOMER_ID]) == \
        ("vip", "vip_customer", str(vip_id))


def test_voicemail_choice_goes_after_hours(seeded, monkeypatch):
    settings, _ = seeded
    monkeypatch.setattr("callcenter.services.calls.routing.utcnow", lambda: _monday_10())
    channel = fake_channel(header())
    channel.get_data.side_effect = keys("8")
    run(channel, settings)
    variables = sent_variables(channel)
    assert (variables[V.ROUTE], variables[V.ROUTE_REASON]) == ("after_hours", "ivr_voicemail")
    assert row(settings).status is CallStatus.AFTER_HOURS


def test_flow_that_hangs_up_records_and_hangs_up(seeded, monkeypatch):
    settings, _ = seeded
    monkeypatch.setattr("callcenter.services.calls.routing.utcnow", lambda: _monday_10())
    channel = fake_channel(header())
    channel.get_data.side_effect = keys("9")
    assert run(channel, settings) == "completed"
    channel.hangup.assert_awaited_once()
    channel.set_variables.assert_not_awaited()
    call = row(settings)
    assert (call.status, call.hangup_side, call.ivr_path) == (CallStatus.HUNG_UP, "ivr", ["main", "key:9"])


def test_caller_hangs_up_in_the_ivr(seeded, monkeypatch, caplog):
    settings, _ = seeded
    monkeypatch.setattr("callcenter.services.calls.routing.utcnow", lambda: _monday_10())
    channel = fake_channel(header())
    channel.get_data.side_effect = [*keys("3"), AGIHangup("GET DATA: caller hung up")]
    caplog.set_level(logging.INFO)
    assert run(channel, settings) == "completed"          # quietly: no fallback, no error
    channel.set_variables.assert_not_awaited()
    call = row(settings)
    assert (call.status, call.hangup_side) == (CallStatus.HUNG_UP, "caller")
    assert call.ivr_path == ["main", "key:3", "complaint"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("hung up" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)


def test_caller_hangs_up_while_the_route_is_sent(seeded, monkeypatch):
    settings, _ = seeded
    monkeypatch.setattr("callcenter.services.calls.routing.utcnow", lambda: _monday_10())
    channel = fake_channel(header(extension="4008002000"))
    channel.set_variables.side_effect = AGIHangup("channel hung up before SET VARIABLE")
    assert run(channel, settings) == "completed"
    call = row(settings)
    assert (call.status, call.queue, call.route_reason) == (CallStatus.HUNG_UP, "vip", "vip_line")


def test_a_broken_flow_still_routes_the_call(seeded, monkeypatch, caplog):
    settings, _ = seeded
    monkeypatch.setattr("callcenter.services.calls.routing.utcnow", lambda: _monday_10())
    with session_scope(settings.database_url) as session:
        lines.update_line(session, "4008001000", ivr_flow="nosuch")
    channel = fake_channel(header())
    assert run(channel, settings) == "completed"
    variables = sent_variables(channel)
    assert (variables[V.QUEUE], variables[V.ROUTE_REASON]) == ("general_q", "ordinary")
    assert row(settings).ivr_path == ["error"]
    (record,) = [r for r in caplog.records if "IVR flow 'nosuch' failed" in r.getMessage()]
    # A flow that is missing or invalid is the site's configuration, said once per call in
    # one line with what to run; not a traceback on every call.
    assert record.exc_info is None and "callcenter ivr check" in record.getMessage(), record.getMessage()
    assert "nosuch" in record.getMessage().partition("failed")[2]


def test_database_failure_falls_back_to_a_safe_route(seeded, tmp_path):
    settings, _ = seeded
    broken = settings.model_copy(update={"database_url": f"sqlite:///{tmp_path}/no-such-dir/x.db"})
    channel = fake_channel(header(extension="4008002000"))
    assert run(channel, broken) == "fallback"
    variables = sent_variables(channel)
    assert (variables[V.ROUTE], variables[V.ROUTE_REASON]) == ("queue", "fallback")
    assert variables[V.QUEUE] == "general_q" and V.CALL_ID not in variables


def test_a_decision_that_cannot_be_recorded_is_still_sent_and_the_row_kept(seeded, monkeypatch, caplog):
    """The route goes out first; a row the database refuses is kept in the journal and
    written from there later (none lost, none twice)."""
    settings, vip_id = seeded
    monkeypatch.setattr("callcenter.services.calls.routing.utcnow", lambda: _monday_10())
    real_write = routing.write_call_records

    def disk_full(*_args, **_kw):
        raise OSError("database or disk is full")

    monkeypatch.setattr("callcenter.services.calls.routing.write_call_records", disk_full)
    channel = fake_channel(header(callerid="13900139000"))
    channel.get_data.side_effect = keys("3", "1")
    assert run(channel, settings) == "completed"
    variables = sent_variables(channel)
    assert (variables[V.QUEUE], variables[V.ROUTE_REASON], variables[V.CUSTOMER_ID]) == \
        ("vip", "vip_customer", str(vip_id))
    assert variables[V.CATEGORY] == "complaint" and variables[V.POP_KEY]
    assert any("kept in the journal" in r.getMessage() for r in caplog.records)
    with session_scope(settings.database_url) as session:
        assert session.scalars(select(Call)).all() == []
    # The database takes writes again: the journal is replayed, twice changes nothing.
    monkeypatch.setattr("callcenter.services.calls.routing.write_call_records", real_write)
    for _ in range(2):
        recorder = CallRecorder(engine_for(settings.database_url), settings).start()
        assert recorder.flush(10)
        recorder.stop()
    call = row(settings)
    assert (call.screen_pop_key, call.queue, call.category) == (variables[V.POP_KEY], "vip", "complaint")


def test_linkedid_defaults_to_uniqueid_and_dnid_stands_in_for_s(seeded, monkeypatch):
    settings, _ = seeded
    monkeypatch.setattr("callcenter.services.calls.routing.utcnow", lambda: _monday_10())
    channel = fake_channel(header(extension="s", dnid="4008002000", args=()))
    run(channel, settings)
    call = row(settings)
    assert (call.linkedid, call.dialled_number, call.route_reason) == ("1795344550.26", "4008002000", "vip_line")


HOSTILE = ['张三 "VIP"', '李四 \\"Boss\\"', "<script>alert(1)</script>", "Robert'); DROP TABLE calls;--",
           "${CALLERID(num)}", "王五;Hangup()", "x" * 300]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_caller_names_pass_through(seeded, monkeypatch, name):
    settings, _ = seeded
    monkeypatch.setattr("callcenter.services.calls.routing.utcnow", lambda: _monday_10())
    channel = fake_channel(header(extension="4008002000", name=name))
    assert run(channel, settings) == "completed"
    assert sent_variables(channel)[V.ROUTE_REASON] == "vip_line"
    assert row(settings).caller_name == name[:128]


def test_a_forged_header_line_cannot_pick_the_vip_line(seeded, monkeypatch, caplog):
    # A newline in CALLERID(name) set by a careless dialplan forges header lines; the
    # parser keeps the first agi_extension it sees, which is the forged one.
    settings, _ = seeded
    monkeypatch.setattr("callcenter.services.calls.routing.utcnow", lambda: _monday_10())
    channel = fake_channel(header(extension="4008001000", name="Evil",
                                  extra_lines=["agi_extension: 4008002000", "agi_dnid: 4008002000"]))
    assert channel.request.get("extension") == "4008002000" and channel.request.anomalies
    run(channel, settings)
    variables = sent_variables(channel)
    assert variables[V.ROUTE_REASON] == "unknown_line" and variables[V.QUEUE] == "general_q"
    assert any("anomalies" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


class TransportChannel(AGIChannel):
    """Our AGIChannel with a recording transport: the real command formatting and
    quoting run, every line is kept, every command is answered 200 result=1."""

    def __init__(self, head: list[str]) -> None:
        self.request = protocol.parse_header(head)
        self.hung_up = False
        self.lines: list[str] = []

    async def _exchange(self, command_line: str) -> AGIReply:
        self.lines.append(command_line)
        return protocol.parse_reply("200 result=1")


@pytest.mark.parametrize("name", HOSTILE + ["line1\\nline2", "tab\there"])
def test_every_value_sent_to_asterisk_is_one_clean_command_line(seeded, monkeypatch, name):
    settings, _ = seeded
    monkeypatch.setattr("callcenter.services.calls.routing.utcnow", lambda: _monday_10())
    channel = TransportChannel(header(extension="4008002000", name=name))
    assert run(channel, settings) == "completed"
    assert len(channel.lines) == len(V.ROUTE_VARIABLES)
    for line in channel.lines:
        assert line.startswith("SET VARIABLE ") and "\n" not in line and "\r" not in line


def _monday_10():
    from .conftest import at

    return at(2026, 11, 23, 10)
