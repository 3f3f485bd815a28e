"""The speech step of a menu over the real FastAGI server and its AudioSocket listener,
against a peer that speaks for Asterisk: the caller's answer is real Korean audio
(espeak-ng + sox, 8 kHz) recognised by the real Korean model; silence, noise, a key and a
broken AudioSocket all end in the keys, and the call is routed either way."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from ivr.asterisk_peer import recorded_header
from ivr.conftest import TIMEOUT, Step, write_flow

from callcenter.agi import audiosocket
from callcenter.agi.handlers import ivr as ivr_route
from callcenter.agi.registry import Registry, Route
from callcenter.agi.server import FastAGIServer
from callcenter.ivr import loader

from .audio import noise, silence, spoken, write_wav
from .peer import AudioSocketPeer, Caller

FLOW = """
description: 语音菜单测试 (Korean phrases for the Korean test model)
root: main
defaults:
  timeout_s: 2
  retries: 1
  no_input_prompt: no_input
  default: {queue: human}
prompts:
  menu: 咨询请按1，报修请按2，投诉请按3，人工服务请按0。
  menu_speech: 请说出您要办理的业务，或者按键选择。
  no_input: 对不起，没有收到您的选择。
nodes:
  main:
    prompt: menu
    keys:
      "1": {queue: consultation}
      "2": {queue: repair}
      "3": {queue: complaint}
      "0": {queue: human}
    speech:
      prompt: menu_speech
      phrases:
        ko:
          "2": [수리]
          "3": [불만, 민원]
          "0": [상담원]
        cmn:
          "1": [咨询]
          "2": [报修, 维修]
          "3": [投诉]
          "0": [人工]
"""


@pytest.fixture
def step_settings(ko_settings, tmp_path):
    loader.clear_cache()
    flows = tmp_path / "flows"
    write_flow(flows, "voice", FLOW)
    prompts = tmp_path / "prompts"
    for prompt in ("menu", "menu_speech", "no_input"):
        write_wav(prompts / f"{prompt}.wav", silence(0.1))
    yield ko_settings.model_copy(update={
        "ivr_flows_dir": flows, "prompts_dir": prompts, "database_url": f"sqlite:///{tmp_path / 'unused.db'}",
        "agi_header_timeout_s": 2.0, "agi_command_timeout_s": 10.0, "agi_route_budget_s": 2.0,
        "speech_audiosocket_port": 0})
    loader.clear_cache()


def registry() -> Registry:
    routes = Registry()
    routes.add(Route("ivr", ivr_route.ivr, ivr_route.fallback_variables))
    return routes


def call(settings, steps: list[Step], callers: list[Caller], *, speech: bool = True):
    """One call through a real FastAGI server; ``speech=False``: the server has no model."""
    async def scenario():
        server = FastAGIServer(settings, registry(), host="127.0.0.1", port=0)
        await server.start()
        try:
            assert (server.speech is not None) == speech
            peer = AudioSocketPeer(recorded_header("1e_ivr_result_variants", "ivr?flow=voice"), steps, callers)
            log = await peer.call(server.port, timeout=30)
            assert not peer.steps and not peer.callers, (peer.steps, peer.callers, log.commands)
            return log, peer.audiosocket, server.speech
        finally:
            await server.stop(grace_s=2.0)
            assert audiosocket.running_listener() is None

    return asyncio.run(scenario())


def exec_line(log) -> list[str]:
    return [c for c in log.commands if c.startswith("EXEC")]


def test_a_spoken_choice_routes_the_call(step_settings, audio_dir, caplog):
    with caplog.at_level(logging.WARNING):
        log, steps, listener = call(step_settings, [Step("stream", "menu_speech")],
                                    [Caller(spoken("수리", audio_dir, lead_s=0.4))])
    assert not caplog.records, [r.getMessage() for r in caplog.records]      # nothing went wrong on the way
    assert log.variables["CC_IVR_PATH"] == "main,speech:2"
    assert log.variables["CC_CATEGORY"] == "repair"
    # Asterisk was told to stream to this process's listener, and the listener ended the
    # application itself (the hangup message) once the answer was decided.
    [line] = exec_line(log)
    assert line.startswith("EXEC AudioSocket ") and line.endswith(f",127.0.0.1:{listener.port}")
    assert steps[0].hangup_at is not None and not steps[0].closed_without_hangup


def test_a_synonym_routes_like_the_name(step_settings, audio_dir):
    log, _, _ = call(step_settings, [Step("stream", "menu_speech")],
                     [Caller(spoken("민원", audio_dir, lead_s=0.4))])
    assert log.variables["CC_IVR_PATH"] == "main,speech:3"
    assert log.variables["CC_CATEGORY"] == "complaint"


def test_the_answer_is_taken_as_the_caller_stops_not_after_the_listening_time(step_settings, audio_dir):
    # The caller has 2 s to start; the word lasts well under a second. The listener hangs
    # up within the end-of-speech silence (200 ms) plus decoding, not at the 2 s mark.
    word = spoken("상담원", audio_dir, lead_s=0.3)
    log, steps, _ = call(step_settings, [Step("stream", "menu_speech")], [Caller(word)])
    assert log.variables["CC_IVR_PATH"] == "main,speech:0"
    frames_of_word = -(-len(word) // 320)
    # Counted in audio frames, not wall-clock time: at most 0.2 s + 0.5 s of frames after the word.
    assert steps[0].frames_sent - frames_of_word <= 35, steps[0]


def test_silence_falls_back_to_the_keys(step_settings):
    log, _, _ = call(step_settings,
                         [Step("stream", "menu_speech"), Step("get_data", "menu", "3")],
                         [Caller(silence(0.1))])
    assert log.variables["CC_IVR_PATH"] == "main,speech:silence,key:3"
    assert log.variables["CC_CATEGORY"] == "complaint"


def test_noise_falls_back_to_the_keys(step_settings, audio_dir):
    log, _, _ = call(step_settings,
                     [Step("stream", "menu_speech"), Step("get_data", "menu", TIMEOUT),
                      Step("stream", "no_input"), Step("get_data", "menu", "1")],
                     [Caller(noise("whitenoise", 3.0, audio_dir))])
    assert log.variables["CC_IVR_PATH"] == "main,speech:silence,timeout,key:1"
    assert log.variables["CC_CATEGORY"] == "consultation"


def test_a_phone_that_sends_nothing_while_silent_still_gets_the_keys(step_settings):
    # DTX: no frames while the caller says nothing. AudioSocket() would give up after 2 s
    # without traffic (and the step be an error); the listener's silent keep-alive frames
    # keep it open until the listening time (4 s here) is over: silence, then the keys.
    write_flow(step_settings.ivr_flows_dir, "voice", FLOW.replace("timeout_s: 2", "timeout_s: 4"))
    loader.clear_cache()
    log, steps, _ = call(step_settings, [Step("stream", "menu_speech"), Step("get_data", "menu", "2")],
                         [Caller(dtx=True)])
    assert log.variables["CC_IVR_PATH"] == "main,speech:silence,key:2"
    assert steps[0].hangup_at is not None and not steps[0].inactivity_timeout
    assert steps[0].frames_received >= 3


def test_a_key_pressed_while_listening_is_a_key(step_settings):
    log, _, _ = call(step_settings, [Step("stream", "menu_speech")], [Caller(key="1", key_after_s=0.2)])
    assert log.variables["CC_IVR_PATH"] == "main,key:1"
    assert log.variables["CC_CATEGORY"] == "consultation"


def test_a_key_during_the_speech_prompt_skips_listening(step_settings):
    log, steps, _ = call(step_settings, [Step("stream", "menu_speech", "2")], [])
    assert log.variables["CC_IVR_PATH"] == "main,key:2"
    assert not steps and not exec_line(log)


def test_audiosocket_that_cannot_connect_falls_back_to_the_keys(step_settings, audio_dir, monkeypatch):
    # Asterisk cannot reach the listener (a firewall, a wrong speech_audiosocket_host):
    # AudioSocket() answers -1 at once, the step is an error, the keys take over.
    original = AudioSocketPeer._audiosocket

    async def unreachable(self, options):
        key, _ = options.split(",", 1)
        return await original(self, f"{key},127.0.0.1:1")

    monkeypatch.setattr(AudioSocketPeer, "_audiosocket", unreachable)
    log, _, _ = call(step_settings, [Step("stream", "menu_speech"), Step("get_data", "menu", "2")],
                     [Caller(spoken("수리", audio_dir, lead_s=0.4))])
    assert log.variables["CC_IVR_PATH"] == "main,speech:error,key:2"
    assert log.variables["CC_CATEGORY"] == "repair"


def test_speech_off_the_same_menu_is_a_key_menu(step_settings):
    log, _, _ = call(step_settings.model_copy(update={"speech_model_path": None}),
                     [Step("get_data", "menu", "3")], [], speech=False)
    assert log.variables["CC_IVR_PATH"] == "main,key:3"
    assert not exec_line(log)


def test_a_missing_model_is_one_line_at_start_up_and_calls_route_by_keys(step_settings, tmp_path, caplog):
    missing = tmp_path / "vosk-model-small-cn-0.22"
    settings = step_settings.model_copy(update={"speech_model_path": missing})
    with caplog.at_level(logging.INFO):
        log, _, _ = call(settings, [Step("get_data", "menu", TIMEOUT), Step("stream", "no_input"),
                                    Step("get_data", "menu", "2")], [], speech=False)
    assert log.variables["CC_IVR_PATH"] == "main,timeout,key:2"
    assert log.variables["CC_CATEGORY"] == "repair"
    assert not exec_line(log)
    speech_lines = [r for r in caplog.records if "speech" in r.getMessage().lower()]
    assert [(r.levelname, r.getMessage()) for r in speech_lines] == [
        ("WARNING", (f"speech off: the Vosk model directory does not exist ({missing}); "
                    "speech steps in IVR flows work as key steps"))]


def test_callcenter_agi_with_a_missing_model_says_so_once_and_serves(tmp_path):
    """The real command as a process: its start-up output names the problem in one line,
    and it serves FastAGI all the same (it accepts a connection, it stops on SIGTERM)."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import threading
    import time

    missing = tmp_path / "models" / "vosk-model-small-cn-0.22"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "CALLCENTER_DATABASE_URL": f"sqlite:///{tmp_path / 'cc.db'}",
           "CALLCENTER_SPEECH_MODEL_PATH": str(missing), "CALLCENTER_JOURNAL_DIR": str(tmp_path / "journal")}
    command = Path(sys.executable).parent / "callcenter"
    process = subprocess.Popen([str(command), "agi", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(process.stderr.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not any("speech" in line for line in lines):
            time.sleep(0.1)
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=20)
        reader.join(5)
    said = [line.rstrip("\n") for line in lines if "speech" in line.lower()]
    assert len(said) == 1, lines
    assert said[0].endswith(f"speech off: the Vosk model directory does not exist ({missing}); "
                            "speech steps in IVR flows work as key steps")
    assert process.returncode == 0, lines


def test_any_route_can_take_a_spoken_answer(step_settings, audio_dir):
    """``listen_for`` outside a flow, as a survey route would ask 满意/一般/不满意."""
    from callcenter.agi.audiosocket import listen_for

    answers: list = []

    async def survey(channel, ctx):
        await channel.answer()
        heard = await listen_for(channel, {"ko": {"3": ["불만", "민원"], "0": ["상담원"]},
                                           "cmn": {"1": ["满意"], "2": ["一般"], "3": ["不满意"]}}, 2.0)
        none = await listen_for(channel, {"cmn": {"1": ["满意"]}}, 2.0)      # no Korean phrases: keys
        answers.extend([heard, none])

    routes = Registry()
    routes.add(Route("survey", survey))

    async def scenario():
        server = FastAGIServer(step_settings, routes, host="127.0.0.1", port=0)
        await server.start()
        try:
            peer = AudioSocketPeer(recorded_header("1e_ivr_result_variants", "survey"), [],
                                   [Caller(spoken("불만", audio_dir, lead_s=0.4))])
            await peer.call(server.port, timeout=30)
            assert not peer.callers
        finally:
            await server.stop(grace_s=2.0)

    asyncio.run(scenario())
    heard, none = answers
    assert (heard.outcome, heard.choice, heard.phrase) == ("match", "3", "불만")
    assert none is None
