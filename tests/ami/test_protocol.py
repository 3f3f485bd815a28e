"""AMI framing and parsing on the real captures."""

from __future__ import annotations

import pytest

from callcenter.ami.protocol import (
    AMIProtocolError,
    Message,
    MessageParser,
    banner_version,
    build_message,
    format_action,
    iter_messages,
)
from callcenter.simulation.ami.replay import Recording

from .conftest import TRANSCRIPTS

BINS = sorted(TRANSCRIPTS.glob("*.from_asterisk.bin"))


def test_all_captures_are_here():
    names = {p.name.removesuffix(".from_asterisk.bin") for p in BINS}
    assert names == {
        "3a1_queue_answered_caller_hangs_up", "3a2_queue_answered_agent_hangs_up", "3b1_abandon_all_members_paused",
        "3b2_abandon_while_agent_ringing", "3c_ringnoanswer_autopause_timeout", "3d1_login_bad_secret",
        "3d2_actions_originate_hangup", "3e1_restart_idle", "3e2_restart_with_call_in_queue"}


@pytest.mark.parametrize("path", BINS, ids=lambda p: p.name.split("_")[0])
@pytest.mark.parametrize("chunk", [1, 7, 4096])
def test_parse_and_rebuild_every_capture_byte_for_byte(path, chunk):
    """Fed in pieces of any size (UTF-8 split anywhere), every message comes back and
    serialises to exactly the bytes Asterisk sent."""
    rec = Recording.load(path)
    data = path.read_bytes()
    rebuilt = b""
    for segment_start, segment in zip(_segment_starts(data), rec.segments):
        rebuilt += b"Asterisk Call Manager/11.0.0\r\n"
        rebuilt += b"".join(m.message.to_bytes() for m in segment.messages)
        assert segment_start >= 0
    assert rebuilt == data
    parser = MessageParser(expect_banner=True)
    first = rec.segments[0].messages
    out = []
    first_bytes = b"Asterisk Call Manager/11.0.0\r\n" + b"".join(m.message.to_bytes() for m in first)
    for i in range(0, len(first_bytes), chunk):
        out.extend(parser.feed(first_bytes[i:i + chunk]))
    assert [m.fields for m in out] == [m.message.fields for m in first]
    assert parser.banner == "Asterisk Call Manager/11.0.0"
    assert not parser.pending
    assert all(not m.defects for m in out)


def _segment_starts(data: bytes) -> list[int]:
    starts, i = [], 0
    while (i := data.find(b"Asterisk Call Manager/", i)) >= 0:
        starts.append(i)
        i += 1
    return starts


def test_timing_comes_from_the_timed_transcript():
    rec = Recording.load(TRANSCRIPTS / "3e2_restart_with_call_in_queue.from_asterisk.bin")
    assert len(rec.segments) == 2
    first, second = rec.segments
    times = [m.at for m in first.messages]
    assert times[0] == 0.0 and times == sorted(times)
    shutdown = next(m for m in first.messages if m.message.event == "Shutdown")
    assert shutdown.at == pytest.approx(3.379 - 0.004, abs=1e-6)
    # After the restart: login answer, SuccessfulAuth, VarSet, then FullyBooted ~0.18 s later.
    assert [m.message.event or m.message.response for m in second.messages] == [
        "Success", "SuccessfulAuth", "VarSet", "FullyBooted", "Goodbye"]
    fully_booted = second.messages[3]
    assert fully_booted.message.keys() == ["Event", "Privilege", "Status", "Uptime", "LastReload"]
    assert fully_booted.at == pytest.approx(4.905 - 4.731, abs=1e-6)


def test_chinese_value_split_across_reads_is_kept():
    data = "Event: QueueMemberPause\r\nPausedReason: 午休\r\n\r\n".encode()
    cut = data.index("午".encode()) + 1
    parser = MessageParser()
    assert parser.feed(data[:cut]) == []
    [msg] = parser.feed(data[cut:])
    assert msg.get("PausedReason") == "午休" and not msg.defects


def test_lookup_is_case_insensitive_and_keeps_repeats():
    [cdr] = iter_messages(b"Event: Cdr\r\nUniqueID: 1.2\r\nUserField: \r\n\r\n")
    assert cdr.get("Uniqueid") == "1.2" and cdr["UNIQUEID"] == "1.2"
    assert cdr.get("UserField") == "" and "userfield" in cdr
    [cmd] = iter_messages(b"Response: Success\r\nMessage: Command output follows\r\nOutput: a\r\nOutput: b\r\n\r\n")
    assert cmd.getall("output") == ["a", "b"] and cmd.get("Output") == "a"


def test_malformed_lines_mark_the_message_and_parsing_goes_on():
    parser = MessageParser()
    data = (b"Event: AgentCalled\r\nthis line has no colon\r\nQueue: vip\r\n\r\n"
            b"Event: Hangup\r\nCause: \xff\xfe16\r\n\r\n"
            b"Event: Ping\r\n\r\n")
    first, second, third = parser.feed(data)
    assert first.get("Queue") == "vip"
    assert first.defects == ["line without 'Key: ' 'this line has no colon'"]
    assert any("UTF-8" in d for d in second.defects) and second.get("Cause").endswith("16")
    assert third.event == "Ping" and not third.defects


def test_a_line_without_end_is_a_protocol_error():
    parser = MessageParser(max_line=1024)
    with pytest.raises(AMIProtocolError):
        parser.feed(b"Event: " + b"x" * 2000)


def test_format_action_order_and_values():
    data = format_action("QueuePause", "cc-7", {"Queue": None, "Interface": "PJSIP/agent1001",
                                               "Paused": True, "Reason": "午休"})
    assert data == ("Action: QueuePause\r\nActionID: cc-7\r\nInterface: PJSIP/agent1001\r\n"
                    "Paused: true\r\nReason: 午休\r\n\r\n").encode()
    data = format_action("Originate", "x", [("Channel", "PJSIP/a"), ("Variable", ["A=1", "B=2"])])
    assert data.count(b"Variable: ") == 2


@pytest.mark.parametrize("value", ["evil\r\nAction: Hangup", "line\nbreak", "cr\rhere"])
def test_values_cannot_inject_headers(value):
    with pytest.raises(ValueError, match="CR or LF"):
        format_action("QueuePause", "1", {"Reason": value})


def test_build_message_rejects_bad_keys():
    with pytest.raises(ValueError):
        build_message([("Bad: key", "x")])
    assert Message([("A", "1")]) == build_message([("A", 1)])


def test_banner_version():
    assert banner_version("Asterisk Call Manager/11.0.0") == "11.0.0"
    assert banner_version("SSH-2.0-OpenSSH_9.2") is None
    assert banner_version(None) is None


def test_a_gbk_caller_name_is_decoded_and_the_event_kept():
    """Older carriers and PBXs still send GBK names (王霞); Asterisk passes the bytes on."""
    data = b"Event: AgentCalled\r\nCallerIDName: \xcd\xf5\xcf\xbc\r\nQueue: vip\r\n\r\n"
    [msg] = MessageParser().feed(data)
    assert msg.get("CallerIDName") == "王霞" and msg.get("Queue") == "vip"
    assert not msg.broken


def test_undecodable_bytes_are_replaced_and_only_that_field_suffers():
    data = b"Event: AgentCalled\r\nCallerIDName: Li \xff\xfe\r\nCallerIDNum: 13800138000\r\n\r\n"
    [msg] = MessageParser().feed(data)
    assert msg.get("CallerIDName").startswith("Li ") and "\ufffd" in msg.get("CallerIDName")
    assert msg.get("CallerIDNum") == "13800138000" and not msg.broken


def test_a_line_without_colon_breaks_the_message():
    [msg] = MessageParser().feed(b"Event: AgentCalled\r\nno colon here\r\n\r\n")
    assert msg.broken
