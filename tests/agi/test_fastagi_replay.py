"""The FastAGI server against replays of real Asterisk 22 sessions.

Each test registers a test-only route that sends what the recorded server sent (through
the channel helpers where one exists); the replay peer plays Asterisk's side of the
transcript, checks every command as Asterisk would parse it, and the test asserts what
the helpers made of each recorded reply.
"""

from __future__ import annotations

import asyncio

import pytest

from callcenter.agi.channel import AGIError, AGIHangup, DigitsResult, StreamResult
from callcenter.agi.registry import Registry

from .conftest import running_server, settle
from .transcripts import load, replay_over_tcp

USAGE_520 = "520-Invalid command syntax.  Proper usage follows:"


async def wait_until_hung_up(channel, timeout: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not channel.hung_up and loop.time() < deadline:
        await asyncio.sleep(0.005)
    assert channel.hung_up


def play(name: str, route_name: str, handler, registry: Registry | None = None):
    """Serve ``handler`` as ``route_name`` and replay transcript ``name`` against it."""
    registry = registry or Registry()
    registry.route(route_name)(handler)
    transcript = load("fastagi", name)

    async def scenario():
        async with running_server(registry) as server:
            result = await replay_over_tcp(transcript, server.port)
            await settle(server)
            return result, dict(server.stats), server.active_sessions

    result, stats, active = asyncio.run(scenario())
    assert result.errors == []
    assert result.finished, "the transcript was not played to its end"
    assert active == 0
    return result, stats


def test_1a_command_tour_every_reply_shape_and_dead_channel():
    seen = {}

    async def route_call(channel, ctx):
        request = channel.request
        seen["route"], seen["args"], seen["query"] = request.route, request.args, request.query
        seen["anomalies"] = request.anomalies
        seen["num"] = await channel.get_variable("CALLERID(num)")
        seen["name"] = (await channel.command("GET FULL VARIABLE", "${CALLERID(name)}")).data
        await channel.set_variable("CC_ROUTE", "vip")
        await channel.set_variable("QUEUE_PRIO", "10")
        await channel.verbose("x", 1)
        await channel.answer()
        seen["stream"] = await channel.stream_file("hello-world", "12")
        seen["data"] = await channel.get_data("beep", 3000, 1)
        seen["exec"] = (await channel.exec_app("Playback", "beep")).result
        seen["status"] = (await channel.command("CHANNEL STATUS")).result
        seen["unset"] = await channel.get_variable("NONEXISTENT")
        await channel.set_variable("EMPTYVAR", "")
        seen["empty"] = await channel.get_variable("EMPTYVAR")
        seen["route_var"] = await channel.get_variable("CC_ROUTE")
        await channel.command("DATABASE PUT", "cc", "lastcaller", "13800138000")
        seen["db_hit"] = (await channel.command("DATABASE GET", "cc", "lastcaller")).data
        seen["db_miss"] = (await channel.command("DATABASE GET", "cc", "nosuchkey")).result
        seen["digit"] = await channel.wait_for_digit(100)
        await channel.command("NOOP")
        with pytest.raises(AGIError) as unknown:
            await channel.command("FOO BAR")
        seen["510"] = unknown.value.reply.code
        with pytest.raises(AGIError) as usage1:
            await channel.command("SET VARIABLE", "ONLYONEARG")
        seen["520a"] = usage1.value.reply.raw.split("\n")
        with pytest.raises(AGIError) as usage2:
            await channel.command("STREAM FILE")
        seen["520b"] = usage2.value.reply.raw.split("\n")
        await channel.hangup()
        # After our own HANGUP every command is refused locally until dead_ok says
        # the handler knows the channel is gone.
        with pytest.raises(AGIHangup):
            await channel.get_variable("CC_ROUTE")
        await wait_until_hung_up(channel)
        seen["dead_get"] = (await channel.command("GET VARIABLE", "CC_ROUTE", dead_ok=True)).data
        with pytest.raises(AGIHangup):
            await channel.command("STREAM FILE", "beep", "", dead_ok=True)
        seen["done"] = True

    result, stats = play("1a_route_call", "route_call", route_call)
    assert seen["route"] == "route_call" and seen["args"] == ["arg1", "arg2"] and seen["query"] == {}
    assert seen["anomalies"] == []
    assert seen["num"] == "13800138000" and seen["name"] == "Test Caller"
    assert seen["stream"] == StreamResult(digit=None, endpos=11234)
    assert seen["data"] == DigitsResult(digits="1", timed_out=False)
    assert seen["exec"] == "0" and seen["status"] == "6"
    assert seen["unset"] is None and seen["empty"] == "" and seen["route_var"] == "vip"
    assert seen["db_hit"] == "13800138000" and seen["db_miss"] == "0"
    assert seen["digit"] is None and seen["510"] == 510
    assert seen["520a"] == [USAGE_520, "Sets a variable to the current channel.", "520 End of proper usage."]
    assert seen["520b"][0] == USAGE_520 and seen["520b"][-1] == "520 End of proper usage."
    assert len(seen["520b"]) == 7 and seen["520b"][-2] == "    <value>FAILED</value>"
    assert seen["dead_get"] == "vip" and seen["done"]
    assert result.saw_close and stats == {"sessions": 1, "completed": 1}


def test_1a2_server_ends_session_by_half_close():
    seen = {}

    async def route_call_close(channel, ctx):
        seen["num"] = await channel.get_variable("CALLERID(num)")
        await channel.set_variable("CC_ROUTE", "vip")
        await channel.answer()
        seen["stream"] = await channel.stream_file("beep", "")

    result, stats = play("1a2_route_call_server_closes", "route_call_close", route_call_close)
    assert seen == {"num": "13800138000", "stream": StreamResult(None, 3404)}
    assert result.saw_close and stats["completed"] == 1


def test_1b1_hangup_during_stream_file_then_dead_channel_commands():
    seen = {}

    async def long_play(channel, ctx):
        await channel.answer()
        try:
            await channel.stream_file("demo-congrats", "")
        except AGIHangup:
            seen["hangup_seen"] = channel.hung_up
        dead = dict(dead_ok=True)
        seen["num"] = await_data = (await channel.command("GET VARIABLE", "CALLERID(num)", **dead)).data
        refused = 0
        for words in (("STREAM FILE", "beep", ""), ("WAIT FOR DIGIT", 1000), ("ANSWER",),
                      ("CHANNEL STATUS",), ("HANGUP",)):
            with pytest.raises(AGIHangup):
                await channel.command(*words, **dead)
            refused += 1
        seen["refused"] = refused
        await channel.command("VERBOSE", "still here after hangup", 1, **dead)
        await channel.command("SET VARIABLE", "AFTER_HANGUP", 1, **dead)
        seen["after"] = (await channel.command("GET VARIABLE", "AFTER_HANGUP", **dead)).data
        seen["cause"] = (await channel.command("GET FULL VARIABLE", "${HANGUPCAUSE}", **dead)).data
        seen["exec"] = (await channel.command("EXEC", "Playback", "beep", **dead)).result
        await channel.command("NOOP", **dead)
        with pytest.raises(AGIError):
            await channel.command("FOO BAR", **dead)
        with pytest.raises(AGIError):
            await channel.command("SET VARIABLE", "ONLYONEARG", **dead)
        for _ in range(5):
            await channel.command("NOOP", **dead)
        assert await_data
        # The handler ends by letting the hangup propagate, as a real route does.
        raise AGIHangup("caller gone")

    result, stats = play("1b1_caller_hangup_during_stream_file", "long_play", long_play)
    assert seen == {"hangup_seen": True, "num": "13800138000", "refused": 5, "after": "1",
                    "cause": "0", "exec": "0"}
    assert stats == {"sessions": 1, "hangup": 1}


def test_1b2_hangup_during_wait_for_digit():
    seen = {}

    async def wait_digit(channel, ctx):
        await channel.answer()
        with pytest.raises(AGIHangup):
            await channel.wait_for_digit(20000)
        seen["num"] = (await channel.command("GET VARIABLE", "CALLERID(num)", dead_ok=True)).data
        await channel.command("STREAM FILE", "beep", "", dead_ok=True)

    result, stats = play("1b2_caller_hangup_during_wait_for_digit", "wait_digit", wait_digit)
    assert seen == {"num": "13800138000"}
    assert stats == {"sessions": 1, "hangup": 1}   # the 511 ended the handler as a hangup


def test_1b3_hangup_line_while_idle_is_noticed_without_a_command():
    seen = {}

    async def idle(channel, ctx):
        await channel.answer()
        await wait_until_hung_up(channel)       # no command outstanding: the line alone
        with pytest.raises(AGIHangup):
            await channel.get_variable("CALLERID(num)")   # refused locally, not sent
        with pytest.raises(AGIHangup):
            await channel.command("CHANNEL STATUS", dead_ok=True)
        seen["num"] = (await channel.command("GET VARIABLE", "CALLERID(num)", dead_ok=True)).data

    result, stats = play("1b3_caller_hangup_while_server_idle", "idle", idle)
    assert seen == {"num": "13800138000"}
    assert stats == {"sessions": 1, "completed": 1}


def test_1c1_record_file_replies():
    seen = {}

    async def record(channel, ctx):
        await channel.answer()
        spool = "/var/spool/asterisk/monitor/"
        timeout = await channel.command("RECORD FILE", spool + "agi-rec-timeout", "wav", "#", 3000)
        dtmf = await channel.command("RECORD FILE", spool + "agi-rec-dtmf", "wav", "1", 10000, 0, "BEEP")
        silence = await channel.command("RECORD FILE", spool + "agi-rec-silence", "wav", "#", 6000, 0, "s=1")
        seen["replies"] = [(r.result, r.data, r.endpos) for r in (timeout, dtmf, silence)]
        with pytest.raises(AGIError) as usage:
            await channel.command("RECORD FILE", spool + "agi-rec-bad", "wav")
        seen["usage_lines"] = len(usage.value.reply.raw.split("\n"))
        bad = await channel.command("RECORD FILE", "/nonexistent-dir/x", "wav", "#", 1000)
        seen["writefile"] = (bad.result, bad.data)
        await channel.hangup()

    play("1c1_record_file", "record", record)
    assert seen["replies"] == [("0", "timeout", 24000), ("49", "dtmf", 12560), ("0", "timeout", 0)]
    assert seen["usage_lines"] == 3 and seen["writefile"] == ("-1", "writefile")


def test_1c2_record_file_caller_hangup():
    seen = {}

    async def record_hangup(channel, ctx):
        await channel.answer()
        reply = await channel.command("RECORD FILE", "/var/spool/asterisk/monitor/agi-rec-hangup", "wav", "#", 20000)
        seen["reply"] = (reply.result, reply.data, reply.endpos)
        await wait_until_hung_up(channel)
        with pytest.raises(AGIHangup):
            await channel.command("RECORD FILE", "/var/spool/asterisk/monitor/agi-rec-hangup2", "wav", "#", 2000,
                                  dead_ok=True)
        seen["status"] = (await channel.command("GET VARIABLE", "RECORD_STATUS", dead_ok=True)).result

    play("1c2_record_file_caller_hangup", "record_hangup", record_hangup)
    assert seen == {"reply": ("-1", "hangup", 24000), "status": "0"}


def test_1d1_utf8_display_name_with_escaped_quotes():
    seen = {}

    async def args_sipname(channel, ctx):
        seen["header"] = channel.request.env["calleridname"]
        seen["name"] = await channel.get_variable("CALLERID(name)")
        seen["all"] = (await channel.command("GET FULL VARIABLE", "${CALLERID(all)}")).data
        seen["num"] = await channel.get_variable("CALLERID(num)")

    play("1d1_utf8_sip_display_name", "args_sipname", args_sipname)
    assert seen == {"header": '李四 \\"Boss\\"', "name": '李四 \\"Boss\\"',
                    "all": '"李四 \\"Boss\\"" <13800138000>', "num": "13800138000"}


def test_1d2_query_string_odd_args_and_command_quoting():
    seen = {}

    async def args_test(channel, ctx):
        request = channel.request
        seen["request"] = (request.route, request.query, request.args, request.env["calleridname"])
        seen["name"] = await channel.get_variable("CALLERID(name)")
        seen["all"] = (await channel.command("GET FULL VARIABLE", "${CALLERID(all)}")).data
        await channel.set_variable("CC_NOTE", '中文 with spaces "quoted"')
        seen["note"] = await channel.get_variable("CC_NOTE")
        with pytest.raises(AGIError):                     # three words: Asterisk's usage error
            await channel.command("SET VARIABLE", "CC_A", "x", "y")
        await channel.set_variable("CC_B", "x y")
        seen["b"] = await channel.get_variable("CC_B")
        await channel.set_variable("CC_C", "a b")
        seen["c"] = await channel.get_variable("CC_C")
        await channel.verbose('中文日志 "q"', 1)
        with pytest.raises(AGIError) as usage:
            await channel.command("GET FULL VARIABLE", "${CC_NOTE}", "/", "${CALLERID(num)}")
        seen["usage"] = usage.value.reply.raw.split("\n")

    play("1d2_args_spaces_commas_quotes_utf8", "args_test", args_test)
    assert seen["request"] == (
        "args_test", {"q": "1", "name": "张三"},
        ["hello world", "a,b", "中文参数", "it's quoted", "", "x,y", "tab\there", "last"],
        '张三 "VIP"')
    assert seen["name"] == '张三 "VIP"' and seen["all"] == '"张三 "VIP"" <13800138000>'
    assert seen["note"] == '中文 with spaces "quoted"' and seen["b"] == "x y" and seen["c"] == "a b"
    # The usage text contains a line that looks like a reply; it must not end the block.
    assert "Example return code: 200 result=1 (The time is 1578493800)" in seen["usage"]
    assert len(seen["usage"]) == 6 and seen["usage"][-1] == "520 End of proper usage."


def test_1d3_literal_backslash_n_is_one_line():
    seen = {}

    async def args_sipname(channel, ctx):
        seen["header"] = channel.request.env["calleridname"]
        seen["anomalies"] = channel.request.anomalies
        seen["name"] = await channel.get_variable("CALLERID(name)")
        await channel.command("GET FULL VARIABLE", "${CALLERID(all)}")
        await channel.get_variable("CALLERID(num)")

    play("1d3_sip_display_name_backslash_n", "args_sipname", args_sipname)
    assert seen == {"header": "Evil\\nagi_injected: yes, x;y=1", "anomalies": [],
                    "name": "Evil\\nagi_injected: yes, x;y=1"}


def test_1d4_newline_injection_forged_header_and_two_line_reply():
    seen = {}

    async def inject(channel, ctx):
        request = channel.request
        seen["env"] = {k: request.env.get(k) for k in ("calleridname", "injected", "arg_1", "dnid")}
        seen["args"] = request.args
        seen["anomalies"] = request.anomalies
        seen["name"] = await channel.get_variable("CALLERID(name)")
        await asyncio.sleep(0.05)
        seen["num"] = await channel.get_variable("CALLERID(num)")   # still in step

    play("1d4_newline_injection_in_callerid_and_arg", "inject", inject)
    assert seen["env"] == {"calleridname": "Evil", "injected": "yes", "arg_1": "line1\nline2",
                           "dnid": "4008001006"}
    assert seen["args"] == ["line1\nline2"]
    assert seen["anomalies"] == ["continued agi_arg_1"]
    assert seen["name"] == "Evil\nagi_injected: yes"
    assert seen["num"] == "13800138000"


def test_1e_ivr_reply_variants():
    seen = {}

    async def ivr_variants(channel, ctx):
        await channel.answer()
        seen["nothing"] = await channel.get_data("beep", 1500, 4)
        seen["stream_digit"] = await channel.stream_file("demo-congrats", "0123456789*#")
        seen["wait_digit"] = await channel.wait_for_digit(5000)
        seen["interdigit"] = await channel.get_data("beep", 2000, 4)
        seen["max_digits"] = await channel.get_data("beep", 5000, 2)
        seen["hash_ends"] = await channel.get_data("beep", 5000, 10)
        seen["no_digit"] = await channel.wait_for_digit(1000)
        seen["option"] = (await channel.command("GET OPTION", "hello-world", "12", 1500)).endpos
        for verb, value in (("SAY DIGITS", "123"), ("SAY NUMBER", "42"), ("SAY ALPHA", "abc")):
            await channel.command(verb, value, "")
        seen["control"] = (await channel.command("CONTROL STREAM FILE", "beep", "")).endpos
        await channel.command("SET MUSIC", "ON", "default")
        await channel.command("SET MUSIC", "OFF")
        with pytest.raises(AGIError) as missing:           # -1 without a hangup: an error
            await channel.stream_file("no-such-sound-file", "")
        seen["missing"] = (missing.value.reply.result, missing.value.reply.endpos, channel.hung_up)
        await channel.command("SET CALLERID", "4008001000")
        await channel.command("SET AUTOHANGUP", 0)
        await channel.hangup()

    play("1e_ivr_result_variants", "ivr_variants", ivr_variants)
    assert seen["nothing"] == DigitsResult("", True)
    assert seen["stream_digit"] == StreamResult("1", 9440)
    assert seen["wait_digit"] == "2"
    assert seen["interdigit"] == DigitsResult("34", True)
    assert seen["max_digits"] == DigitsResult("59", False)
    assert seen["hash_ends"] == DigitsResult("*", False)
    assert seen["no_digit"] is None and seen["option"] == 11234 and seen["control"] == -1
    assert seen["missing"] == ("-1", 0, False)


@pytest.mark.parametrize("name, queue", [("3a_queue_route_vip", "vip"), ("3c_queue_route_general_q", "general_q")])
def test_3a_3c_queue_route_sets_variables(name, queue):
    async def queue_route(channel, ctx):
        assert await channel.get_variable("CALLERID(num)") == "13800138000"
        await channel.set_variables({"CC_ROUTE": queue, "CC_CUSTOMER_ID": "C-10086", "CC_TICKET": "T-2024-0001",
                                     "QUEUE_PRIO": "10", "CDR(userfield)": f"route={queue}", "CDR(CC_ROUTE)": queue})
        if queue == "general_q":
            await channel.set_variable("CC_QUEUE_TIMEOUT", "12")

    result, stats = play(name, "queue_route", queue_route)
    assert stats["completed"] == 1 and len(result.commands) == (8 if queue == "general_q" else 7)


def test_3d_survey_on_originated_channel():
    seen = {}

    async def survey(channel, ctx):
        request = channel.request
        seen["header"] = (request.get("dnid"), request.env["dnid"], request.args, request.get("context"))
        await channel.answer()
        seen["id"] = await channel.get_variable("CC_SURVEY_ID")
        seen["status"] = (await channel.command("CHANNEL STATUS")).result
        seen["beep"] = await channel.stream_file("beep", "")
        try:
            await channel.wait_for_digit(20000)
        except AGIHangup:
            seen["after"] = (await channel.command("GET VARIABLE", "CC_SURVEY_ID", dead_ok=True)).data
            raise

    result, stats = play("3d_survey_on_originated_call_hungup_by_ami", "survey", survey)
    assert seen == {"header": ("", "unknown", ["42"], "survey"), "id": "42", "status": "6",
                    "beep": StreamResult(None, 3404), "after": "42"}
    assert stats == {"sessions": 1, "hangup": 1}
