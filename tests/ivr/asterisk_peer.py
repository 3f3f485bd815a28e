"""Asterisk's side of a FastAGI call for the IVR routes, over a real TCP socket.

The recorded sessions (tests/fixtures/transcripts/fastagi) fix what a simulator must
reproduce, and this peer answers exactly in their shapes:

* the header is the recorded header of 1e_ivr_result_variants (1c2 for recordings),
  with only the route (``agi_network_script`` / ``agi_request``) and, when a test asks,
  the caller number changed;
* STREAM FILE: ``200 result=0 endpos=11234`` played through, ``200 result=49 endpos=9440``
  interrupted by a digit (ASCII code), ``200 result=-1 endpos=24160`` + ``HANGUP`` ~45 ms
  later on hangup, ``200 result=-1 endpos=0`` and nothing else for a missing file — the
  peer checks the sound file on disk like Asterisk does (``<name>.wav``);
* GET DATA: ``200 result=1`` (max digits), ``200 result= (timeout)``,
  ``200 result=34 (timeout)``, ``200 result=`` (``#`` alone), ``200 result=-1`` + ``HANGUP``;
  a missing prompt file is skipped silently, as ``ast_app_getdata`` does;
* RECORD FILE: ``200 result=35 (dtmf) endpos=...``, ``200 result=0 (timeout) endpos=...``,
  ``200 result=-1 (hangup) endpos=24000`` + ``HANGUP``, ``200 result=-1 (writefile)``
  when the directory does not exist; the audio written is the 3 s file Asterisk wrote
  in 1c1 (or just the 44-byte header when the caller said nothing);
* after ``HANGUP``: media commands get ``511 Command Not Permitted on a dead channel or
  intercept routine``; GET/SET VARIABLE still work;
* when our side half-closes, one more ``HANGUP`` and the connection closes (1a2).
"""

from __future__ import annotations

import asyncio
import shlex
from dataclasses import dataclass, field
from pathlib import Path

from .conftest import HANGUP, HASH, MISSING, RECORDED_WAV, TIMEOUT, WAV_HEADER_ONLY, Step

TRANSCRIPTS = Path(__file__).resolve().parents[1] / "fixtures" / "transcripts" / "fastagi"
DEAD = b"511 Command Not Permitted on a dead channel or intercept routine"
HANGUP_DELAY_S = 0.045          # between the -1 reply and the HANGUP line, as recorded
VERBS = ("ANSWER", "STREAM FILE", "GET DATA", "GET VARIABLE", "SET VARIABLE", "RECORD FILE",
         "VERBOSE", "HANGUP")
MEDIA = {"ANSWER", "STREAM FILE", "GET DATA", "RECORD FILE", "HANGUP"}


def recorded_header(transcript: str, route: str, callerid: str | None = None,
                    args: tuple[str, ...] = ()) -> bytes:
    """The recorded header bytes with another route (caller number, ``agi_arg_N`` lines
    after ``agi_threadid`` where Asterisk writes them)."""
    data = (TRANSCRIPTS / f"{transcript}.from_asterisk.bin").read_bytes()
    header = data[:data.index(b"\n\n") + 2]
    lines = header.split(b"\n")
    out = []
    for line in lines:
        key = line.split(b":", 1)[0]
        if key == b"agi_network_script":
            line = b"agi_network_script: " + route.encode()
        elif key == b"agi_request":
            line = b"agi_request: agi://127.0.0.1:4573/" + route.encode()
        elif key == b"agi_callerid" and callerid is not None:
            line = b"agi_callerid: " + callerid.encode()
        out.append(line)
        if key == b"agi_threadid":
            out += [f"agi_arg_{n}: {value}".encode() for n, value in enumerate(args, 1)]
    return b"\n".join(out)


@dataclass
class PeerLog:
    commands: list[str] = field(default_factory=list)
    replies: list[bytes] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    hangup_sent: bool = False
    closed_by_us: bool = False       # our server half-closed or closed first
    errors: list[str] = field(default_factory=list)


class FakeAsterisk:
    def __init__(self, header: bytes, steps: list[Step], variables: dict[str, str] | None = None) -> None:
        self.header = header
        self.steps = list(steps)
        self.log = PeerLog(variables=dict(variables or {}))
        self._writer: asyncio.StreamWriter | None = None

    async def call(self, port: int, timeout: float = 10.0) -> PeerLog:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        self._writer = writer
        writer.write(self.header)
        try:
            await asyncio.wait_for(self._serve(reader), timeout)
        finally:
            writer.close()
            try:
                await writer.wait_closed()
            except ConnectionError:
                pass
        return self.log

    async def _serve(self, reader: asyncio.StreamReader) -> None:
        while True:
            raw = await reader.readline()
            if not raw:
                # Our side closed: Asterisk writes HANGUP once more, then closes (1a2).
                self.log.closed_by_us = True
                await self._send(b"HANGUP")
                return
            line = raw.decode("utf-8").rstrip("\n")
            self.log.commands.append(line)
            await self._answer(line)

    async def _send(self, *lines: bytes) -> None:
        writer = self._writer
        if writer.is_closing():
            return
        for line in lines:
            self.log.replies.append(line)
        writer.write(b"".join(line + b"\n" for line in lines))
        try:
            await writer.drain()
        except ConnectionError:
            pass

    async def _hang_up_after(self, reply: bytes) -> None:
        await self._send(reply)
        await asyncio.sleep(HANGUP_DELAY_S)
        self.log.hangup_sent = True
        await self._send(b"HANGUP")

    def _step(self, command: str, prompt: str) -> Step:
        if not self.steps:
            self.log.errors.append(f"unexpected {command} {prompt}")
            raise AssertionError(f"unexpected {command} {prompt}; commands: {self.log.commands}")
        step = self.steps.pop(0)
        if (step.command, step.prompt) != (command, prompt):
            self.log.errors.append(f"expected {step.command} {step.prompt}, got {command} {prompt}")
            raise AssertionError(self.log.errors[-1])
        return step

    async def _answer(self, line: str) -> None:
        verb = next((v for v in VERBS if line == v or line.startswith(v + " ")), None)
        if verb is None:
            await self._send(b"510 Invalid or unknown command")
            return
        args = shlex.split(line[len(verb):])
        if self.log.hangup_sent and verb in MEDIA:
            await self._send(DEAD)
            return
        if verb == "ANSWER":
            await self._send(b"200 result=0")
        elif verb == "GET VARIABLE":
            value = self.log.variables.get(args[0])
            await self._send(b"200 result=0" if value is None else f"200 result=1 ({value})".encode())
        elif verb == "SET VARIABLE":
            self.log.variables[args[0]] = args[1]
            await self._send(b"200 result=1")
        elif verb in ("VERBOSE", "HANGUP"):
            await self._send(b"200 result=1")
        elif verb == "STREAM FILE":
            await self._stream_file(args[0], args[1] if len(args) > 1 else "")
        elif verb == "GET DATA":
            await self._get_data(args[0])
        elif verb == "RECORD FILE":
            await self._record_file(args)

    async def _stream_file(self, filename: str, escape: str) -> None:
        step = self._step("stream", Path(filename).name)
        if step.answer == MISSING or not Path(filename + ".wav").is_file():
            await self._send(b"200 result=-1 endpos=0")
        elif step.answer == HANGUP:
            await self._hang_up_after(b"200 result=-1 endpos=24160")
        elif step.answer:
            assert step.answer in escape, (step.answer, escape)
            await self._send(f"200 result={ord(step.answer)} endpos=9440".encode())
        else:
            await self._send(b"200 result=0 endpos=11234")

    async def _get_data(self, filename: str) -> None:
        step = self._step("get_data", Path(filename).name)
        answer = step.answer
        if answer == HANGUP:
            await self._hang_up_after(b"200 result=-1")
        elif answer == TIMEOUT:
            await self._send(b"200 result= (timeout)")
        elif answer == HASH:
            await self._send(b"200 result=")
        elif answer and answer.endswith(" (timeout)"):
            await self._send(f"200 result={answer}".encode())
        else:
            await self._send(f"200 result={answer}".encode())

    async def _record_file(self, args: list[str]) -> None:
        path, fmt = args[0], args[1]
        step = self._step("record", "message")
        target = Path(f"{path}.{fmt}")
        if step.answer == "writefile" or not target.parent.is_dir():
            await self._send(b"200 result=-1 (writefile)")
            return
        target.write_bytes(WAV_HEADER_ONLY if step.answer.endswith("empty") else RECORDED_WAV.read_bytes())
        endpos = b"0" if step.answer.endswith("empty") else b"24000"
        if step.answer.startswith("hangup"):
            await self._hang_up_after(b"200 result=-1 (hangup) endpos=" + endpos)
        elif step.answer.startswith("dtmf"):
            await self._send(b"200 result=35 (dtmf) endpos=" + endpos)
        else:
            await self._send(b"200 result=0 (timeout) endpos=" + endpos)
