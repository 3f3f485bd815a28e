"""Helpers for the IVR tests: flow files in a temporary directory, and a scripted caller
on a spec'd AGIChannel (our own interface) that checks every prompt the engine plays."""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from unittest.mock import create_autospec

import pytest

from callcenter.agi.channel import AGIChannel, AGIError, AGIHangup, DigitsResult, StreamResult
from callcenter.agi.protocol import AGIReply, AGIRequest
from callcenter.config import Settings
from callcenter.ivr import loader

REPO = Path(__file__).resolve().parents[2]
SHIPPED_FLOWS = REPO / "ivr_flows"
# The 3 s message Asterisk 22 wrote for `RECORD FILE ... wav "#" 3000` (transcript 1c1).
RECORDED_WAV = REPO / "tests" / "fixtures" / "recordings" / "agi-rec-timeout.wav"
WAV_HEADER_ONLY = RECORDED_WAV.read_bytes()[:44]

TIMEOUT = "<timeout>"       # GET DATA: 200 result= (timeout)
HASH = "<#>"                # GET DATA: 200 result=  (the caller pressed # alone)
HANGUP = "<hangup>"         # the command raises AGIHangup
MISSING = "<missing>"       # STREAM FILE: result=-1 without hangup → AGIError


@pytest.fixture(autouse=True)
def _fresh_flow_cache():
    loader.clear_cache()
    yield
    loader.clear_cache()


def write_flow(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def bump_mtime(path: Path, seconds: int = 10) -> None:
    """Make a rewrite visible to the mtime check whatever the file system's granularity."""
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + seconds * 1_000_000_000))


@dataclass
class Step:
    command: str            # "stream" | "get_data" | "record"
    prompt: str             # prompt id (the file name played)
    # digit pressed, TIMEOUT, HASH, HANGUP, MISSING or None (played through);
    # for "record": dtmf | timeout | hangup | writefile, "-empty" when nothing was said
    answer: str | None = None


@dataclass
class ScriptedCaller:
    """Answers STREAM FILE / GET DATA in the order the test expects them."""

    prompts_dir: Path
    steps: list[Step]
    played: list[tuple[str, str, tuple]] = field(default_factory=list)
    channel: AGIChannel = None  # type: ignore[assignment]
    variables: dict[str, str] = field(default_factory=dict)
    callerid: str = "13800138000"
    query: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        channel = create_autospec(AGIChannel, instance=True)
        channel.request = AGIRequest(env={"uniqueid": "1795344497.20", "callerid": self.callerid},
                                     query=self.query)
        channel.hung_up = False
        channel.stream_file.side_effect = self._stream_file
        channel.get_data.side_effect = self._get_data
        channel.get_variable.side_effect = self._get_variable
        channel.set_variable.side_effect = self._set_variable
        channel.command.side_effect = self._command
        self.channel = channel

    async def _get_variable(self, name: str) -> str | None:
        if self.channel.hung_up:
            raise AGIHangup("channel hung up before GET VARIABLE")
        return self.variables.get(name)

    async def _set_variable(self, name: str, value: str) -> None:
        if self.channel.hung_up:
            raise AGIHangup("channel hung up before SET VARIABLE")
        self.variables[name] = value

    async def _command(self, verb: str, *args, dead_ok: bool = False) -> AGIReply:
        if self.channel.hung_up and not dead_ok:
            raise AGIHangup(f"channel hung up before {verb}")
        if verb == "GET VARIABLE":
            value = self.variables.get(args[0])
            return AGIReply(200, "0") if value is None else AGIReply(200, "1", value)
        assert verb == "RECORD FILE", verb
        path, fmt = str(args[0]), args[1]
        self.played.append(("record", "message", tuple(args)))
        step = self.steps.pop(0) if self.steps else None
        assert step is not None and step.command == "record", f"unexpected RECORD FILE; next: {step}"
        target = Path(f"{path}.{fmt}")
        if step.answer == "writefile":
            return AGIReply(200, "-1", "writefile", None, "200 result=-1 (writefile)")
        # Asterisk writes the file as the caller speaks; the header alone when nothing came.
        target.write_bytes(WAV_HEADER_ONLY if step.answer.endswith("empty") else RECORDED_WAV.read_bytes())
        if step.answer.startswith("hangup"):
            self.channel.hung_up = True
            return AGIReply(200, "-1", "hangup", 24000, "200 result=-1 (hangup) endpos=24000")
        if step.answer.startswith("dtmf"):
            return AGIReply(200, "35", "dtmf", 24000, "200 result=35 (dtmf) endpos=24000")
        return AGIReply(200, "0", "timeout", 24000, "200 result=0 (timeout) endpos=24000")

    def _next(self, command: str, filename: str, detail: tuple) -> Step:
        prompt = os.path.basename(filename)
        assert os.path.isabs(filename), f"prompt played by relative name: {filename}"
        assert os.path.dirname(filename) == str(self.prompts_dir), filename
        self.played.append((command, prompt, detail))
        assert self.steps, f"unexpected {command} {prompt} after the script ended; played {self.played}"
        step = self.steps.pop(0)
        assert (step.command, step.prompt) == (command, prompt), \
            f"expected {step.command} {step.prompt}, engine sent {command} {prompt}; played {self.played}"
        if step.answer == HANGUP:
            self.channel.hung_up = True
            raise AGIHangup(f"{command} {prompt}: caller hung up")
        return step

    async def _stream_file(self, filename: str, escape_digits: str = "") -> StreamResult:
        step = self._next("stream", filename, (escape_digits,))
        if step.answer == MISSING:
            raise AGIError(f"STREAM FILE {filename} failed: 200 result=-1 endpos=0",
                           AGIReply(200, "-1", None, 0, "200 result=-1 endpos=0"))
        if step.answer is not None:
            assert step.answer in escape_digits, f"{step.answer!r} is not an escape digit ({escape_digits!r})"
            return StreamResult(digit=step.answer, endpos=4000)
        return StreamResult(digit=None, endpos=16000)

    async def _get_data(self, filename: str, timeout_ms: int, max_digits: int) -> DigitsResult:
        step = self._next("get_data", filename, (timeout_ms, max_digits))
        if step.answer == TIMEOUT:
            return DigitsResult(digits="", timed_out=True)
        if step.answer == HASH:
            return DigitsResult(digits="", timed_out=False)
        if step.answer and step.answer.endswith(" (timeout)"):      # 200 result=34 (timeout)
            return DigitsResult(digits=step.answer.split()[0], timed_out=True)
        return DigitsResult(digits=step.answer or "", timed_out=False)

    def assert_finished(self) -> None:
        assert not self.steps, f"script not finished: {self.steps}; played {self.played}"


@pytest.fixture
def ivr_settings(tmp_path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'unused.db'}",
        ivr_flows_dir=SHIPPED_FLOWS,
        prompts_dir=tmp_path / "prompts",
        recordings_dir=tmp_path / "recordings",
    )
