"""Wire-format units: quoting against a model of Asterisk's parser, header and reply parsing."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from callcenter.agi import protocol
from callcenter.agi.protocol import (
    AGICommandTooLong,
    AGIProtocolError,
    ReplyAssembler,
    encode_command,
    format_command,
    parse_header,
    parse_reply,
)

from .asterisk_args import command_argv, parse_args, read_commands
from .transcripts import load

HOSTILE = st.text(alphabet=st.sampled_from(list('"\\ \t\n\r\x00\'$(){},;=:|') + ["中", "文", "张", "a", "Z", "9",
                                                                           "\u2028", "\U0001f600"]))
ANY_TEXT = st.text()


def sent(*commands: str) -> bytes:
    return b"".join(encode_command(c) for c in commands)


def expected_value(value: str) -> bytes:
    """What must arrive: the value, CR/LF turned into spaces, NUL dropped."""
    return value.replace("\r\n", " ").replace("\r", " ").replace("\n", " ").replace("\x00", "").encode()


@settings(max_examples=400, database=None)
@given(name=HOSTILE | ANY_TEXT)
@example(name='张三 "VIP"')
@example(name='李四 \\"Boss\\"')
@example(name="Evil\nagi_injected: yes")
@example(name='x" \nHANGUP\n"')
@example(name="\\")
@example(name="")
@example(name="a\x00b")
@example(name="\r\n\r\n")
def test_caller_name_arrives_whole_and_injects_nothing(name):
    # What a handler does with an attacker-controlled caller name: set it on the channel,
    # then send another command. Asterisk must see exactly two commands, the first with
    # exactly four words and the name intact (minus the characters that cannot travel).
    stream = sent(format_command("SET VARIABLE", "CC_NAME", name), format_command("NOOP"))
    assert command_argv(stream) == [[b"SET", b"VARIABLE", b"CC_NAME", expected_value(name)], [b"NOOP"]]


@settings(max_examples=200, database=None)
@given(words=st.lists(HOSTILE | ANY_TEXT, min_size=1, max_size=6))
def test_any_words_round_trip_as_separate_arguments(words):
    stream = sent(format_command("EXEC", *words))
    assert command_argv(stream) == [[b"EXEC", *(expected_value(w) for w in words)]]


def test_command_too_long_for_asterisk_is_refused_not_split():
    # 8191 bytes is where fgets() cuts: the tail would run as a second command.
    limit_value = "x" * (protocol.MAX_COMMAND_BYTES - len("SET VARIABLE V ") - 1)
    line = format_command("SET VARIABLE", "V", limit_value)
    assert read_commands(encode_command(line)) == [line.encode()]
    with pytest.raises(AGICommandTooLong):
        format_command("SET VARIABLE", "V", limit_value + "x")
    with pytest.raises(AGICommandTooLong):                 # 3 bytes per character
        format_command("SET VARIABLE", "V", "中" * 2800)
    # The oracle shows what refusing prevents:
    evil = b"SET VARIABLE V " + b"x" * 8176 + b"HANGUP\n"
    assert read_commands(evil) == [evil[:8191], b"HANGUP"]


def test_nul_byte_would_glue_two_commands_so_it_is_dropped():
    assert read_commands(b"SET VARIABLE V a\x00b\nNOOP\n") == [b"SET VARIABLE V aNOOP"]
    assert command_argv(sent(format_command("SET VARIABLE", "V", "a\x00b"), "NOOP")) == [
        [b"SET", b"VARIABLE", b"V", b"ab"], [b"NOOP"]]


ALL_FASTAGI = ["1a_route_call", "1a2_route_call_server_closes", "1b1_caller_hangup_during_stream_file",
               "1b2_caller_hangup_during_wait_for_digit", "1b3_caller_hangup_while_server_idle",
               "1c1_record_file", "1c2_record_file_caller_hangup", "1d1_utf8_sip_display_name",
               "1d2_args_spaces_commas_quotes_utf8", "1d3_sip_display_name_backslash_n",
               "1d4_newline_injection_in_callerid_and_arg", "1e_ivr_result_variants", "3a_queue_route_vip",
               "3c_queue_route_general_q", "3d_survey_on_originated_call_hungup_by_ami"]
VERBS = sorted(["ANSWER", "CHANNEL STATUS", "CONTROL STREAM FILE", "DATABASE GET", "DATABASE PUT", "EXEC",
                "GET DATA", "GET FULL VARIABLE", "GET OPTION", "GET VARIABLE", "HANGUP", "NOOP", "RECORD FILE",
                "SAY ALPHA", "SAY DIGITS", "SAY NUMBER", "SET AUTOHANGUP", "SET CALLERID", "SET MUSIC",
                "SET VARIABLE", "STREAM FILE", "VERBOSE", "WAIT FOR DIGIT", "FOO BAR"], key=len, reverse=True)


@pytest.mark.parametrize("name", ALL_FASTAGI)
def test_recorded_commands_rebuilt_by_us_parse_the_same(name):
    # Every command a real session sent, re-sent through our quoting, means the same
    # thing to Asterisk; and every caller-controlled header value survives a round trip.
    transcript = load("fastagi", name)
    for command in transcript.commands:
        argv = parse_args(command)
        text = [w.decode() for w in argv]
        verb = next(v for v in VERBS if text[:len(v.split())] == v.split())
        rebuilt = format_command(verb, *text[len(verb.split()):])
        assert parse_args(rebuilt.encode()) == argv
    request = parse_header(transcript.header_lines + [""])
    for key in ("calleridname", "callerid", "dnid", "rdnis", "extension", "channel"):
        value = request.env[key]
        assert command_argv(sent(format_command("SET VARIABLE", "V", value))) == [
            [b"SET", b"VARIABLE", b"V", expected_value(value)]]


def test_header_of_1a():
    request = parse_header(load("fastagi", "1a_route_call").header_lines + [""])
    assert request.route == "route_call" and request.args == ["arg1", "arg2"]
    assert request.env["accountcode"] == "" and request.get("rdnis") == "" and request.env["rdnis"] == "unknown"
    assert request.env["uniqueid"] == "1795344402.0" and request.anomalies == []


def test_classic_header_has_no_route():
    request = parse_header(load("agi", "2a_classic_agi_tour").header_lines + [""])
    assert request.route == "" and request.env["request"].endswith("logging_agi.py")
    assert request.args == ["arg1", "arg 2"]


def test_forged_header_line_cannot_replace_an_earlier_key():
    lines = ["agi_network: yes", "agi_network_script: route_call", "agi_uniqueid: 1.1", "agi_callerid: 100",
             "agi_calleridname: X", "agi_uniqueid: 666", "agi_network_script: admin", "agi_extension: 400", ""]
    request = parse_header(lines)
    assert request.route == "route_call" and request.env["uniqueid"] == "1.1"
    assert "duplicate agi_uniqueid" in request.anomalies and "duplicate agi_network_script" in request.anomalies


def test_forged_key_out_of_order_is_reported():
    # A newline in the caller name forging a later key: the real lines that follow are
    # then out of Asterisk's order, which a handler can see.
    lines = ["agi_calleridname: X", "agi_extension: 4008002000", "agi_callingpres: 0", "agi_extension: 400", ""]
    request = parse_header(lines)
    assert "agi_callingpres out of order" in request.anomalies


def test_header_limits():
    with pytest.raises(AGIProtocolError):
        parse_header([f"agi_x{i}: y" for i in range(protocol.MAX_HEADER_LINES + 1)])


@pytest.mark.parametrize("line, code, result, data, endpos", [
    ("200 result=1 (13800138000)", 200, "1", "13800138000", None),
    ("200 result=0", 200, "0", None, None),
    ("200 result=1 ()", 200, "1", "", None),
    ("200 result= (timeout)", 200, "", "timeout", None),
    ("200 result=34 (timeout)", 200, "34", "timeout", None),
    ("200 result=-1 endpos=24160", 200, "-1", None, 24160),
    ("200 result=0 endpos=-1", 200, "0", None, -1),
    ("200 result=0 (timeout) endpos=24000", 200, "0", "timeout", 24000),
    ("200 result=-1 (writefile)", 200, "-1", "writefile", None),
    ('200 result=1 ("张三 "VIP"" <13800138000>)', 200, "1", '"张三 "VIP"" <13800138000>', None),
    ("200 result=1 (a) endpos=5)", 200, "1", "a) endpos=5", None),
    ("510 Invalid or unknown command", 510, "", None, None),
    ("511 Command Not Permitted on a dead channel or intercept routine", 511, "", None, None),
])
def test_reply_shapes(line, code, result, data, endpos):
    reply = parse_reply(line)
    assert (reply.code, reply.result, reply.data, reply.endpos) == (code, result, data, endpos)


def test_reply_that_is_not_one():
    with pytest.raises(AGIProtocolError):
        parse_reply("garbage")


def test_assembler_520_block_reads_past_lookalike_lines():
    assembler = ReplyAssembler()
    lines = ["520-Invalid command syntax.  Proper usage follows:", "Example return code: 200 result=1 (x)",
             "520-not the end either", "520 End of proper usage."]
    assert [assembler.feed(line) for line in lines] == [None, None, None, "\n".join(lines)]
    assert not assembler.busy


def test_assembler_value_with_newlines():
    assembler = ReplyAssembler()
    assert assembler.feed("200 result=1 (Evil") is None
    assert assembler.feed("more (text") is None
    assert assembler.feed("agi_injected: yes)") == "200 result=1 (Evil\nmore (text\nagi_injected: yes)"
    assert parse_reply("200 result=1 (Evil\nx)").data == "Evil\nx"


def test_assembler_gives_up_on_endless_reply():
    assembler = ReplyAssembler()
    assembler.feed("520-usage")
    with pytest.raises(AGIProtocolError):
        for _ in range(protocol.MAX_REPLY_LINES + 1):
            assembler.feed("more usage")


def test_invalid_utf8_is_replaced_not_fatal():
    assert protocol.decode_line(b"agi_calleridname: \xff\xfe\xe4\xb8\xad\r") == "agi_calleridname: \ufffd\ufffd中"


def test_a_gbk_caller_name_in_the_header_is_read_as_gbk():
    raw = b"agi_callerid: 13800138000\nagi_calleridname: \xcd\xf5\xcf\xbc\nagi_dnid: 4008001000\n"
    lines = protocol.decode_lines(raw).split("\n")
    assert lines[1] == "agi_calleridname: 王霞" and lines[2] == "agi_dnid: 4008001000"
    assert protocol.decode_line(b"agi_calleridname: \xcd\xf5\xcf\xbc\r") == "agi_calleridname: 王霞"
    assert protocol.decode_line(b"agi_calleridname: \xff\xfe") == "agi_calleridname: \ufffd\ufffd"
