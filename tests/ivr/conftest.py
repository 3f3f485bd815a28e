"""Helpers for the IVR tests: flow files in a temporary directory, and a scripted caller
on a spec'd AGIChannel (our own interface) that checks every prompt the engine plays."""

from __future__ import annotations

import os
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from unittest.mock import create_autospec

import pytest

from callcenter.agi.channel import (
    AGIChannel,
    AGIError,
    AGIHangup,
    AGIReply,
    AGIRequest,
    DigitsResult,
    StreamResult,
)
from callcenter.config import Settings
from callcenter.ivr import loader

REPO = Path(__file__).resolve().parents[2]
SHIPPED_FLOWS = REPO / "ivr_flows"

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
    command: str            # "stream" | "get_data"
    prompt: str             # prompt id (the file name played)
    answer: str | None = None   # digit pressed, TIMEOUT, HASH, HANGUP, MISSING or None (played through)


@dataclass
class ScriptedCaller:
    """Answers STREAM FILE / GET DATA in the order the test expects them."""

    prompts_dir: Path
    steps: list[Step]
    played: list[tuple[str, str, tuple]] = field(default_factory=list)
    channel: AGIChannel = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        channel = create_autospec(AGIChannel, instance=True)
        channel.request = AGIRequest(env={"uniqueid": "1795344497.20", "callerid": "13800138000"})
        channel.hung_up = False
        channel.stream_file.side_effect = self._stream_file
        channel.get_data.side_effect = self._get_data
        self.channel = channel

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
