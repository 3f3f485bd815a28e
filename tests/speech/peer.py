"""Asterisk's side of a speech step: the FastAGI peer of tests/ivr (replies in the shapes
Asterisk 22 recorded) plus what ``EXEC AudioSocket <uuid>,<host>:<port>`` does in
app_audiosocket.c: connect, send the uuid (kind 0x01), stream the caller's audio as slin
messages (kind 0x10, 320 bytes, one every 20 ms, as a channel delivers it), forward a key
as kind 0x03, and return ``200 result=0`` when the listener sends the hangup message
(kind 0x00) or closes. Like Asterisk, it gives up (``200 result=-1``) after 2 s in which
neither side sent anything, and it plays what the listener sends to the caller."""

from __future__ import annotations

import asyncio
import struct
import time
import uuid as uuidlib
from dataclasses import dataclass

from ivr.asterisk_peer import FakeAsterisk

from callcenter.services.speech.model import FRAME_BYTES

FRAME_S = 0.02


@dataclass
class Caller:
    """What the caller does during one AudioSocket step: ``audio`` (raw 8 kHz slin) then
    silence for as long as the step lasts; ``key`` pressed after ``key_after_s``."""

    audio: bytes = b""
    key: str | None = None
    key_after_s: float = 0.3
    dtx: bool = False         # the phone sends nothing while the caller is silent


@dataclass
class StepLog:
    uuid: str
    address: str
    frames_sent: int = 0
    audio_end_at: float | None = None      # monotonic time the caller's audio ended
    hangup_at: float | None = None         # the listener's hangup message arrived
    closed_without_hangup: bool = False
    frames_received: int = 0               # audio the listener sent to the caller
    inactivity_timeout: bool = False       # AudioSocket() gave up: 2 s without traffic


class AudioSocketPeer(FakeAsterisk):
    def __init__(self, header: bytes, steps, callers: list[Caller], variables=None) -> None:
        super().__init__(header, steps, variables)
        self.callers = list(callers)
        self.audiosocket: list[StepLog] = []

    async def _answer(self, line: str) -> None:
        if line.startswith("EXEC AudioSocket "):
            await self._audiosocket(line[len("EXEC AudioSocket "):].strip().strip('"'))
            return
        await super()._answer(line)

    async def _audiosocket(self, options: str) -> None:
        key, address = options.split(",", 1)
        host, port = address.rsplit(":", 1)
        step = StepLog(key, address)
        self.audiosocket.append(step)
        if not self.callers:
            raise AssertionError(f"unexpected AudioSocket step; commands: {self.log.commands}")
        caller = self.callers.pop(0)
        try:
            reader, writer = await asyncio.open_connection(host, int(port))
        except OSError:
            await self._send(b"200 result=-1")        # ast_audiosocket_connect failed
            return
        writer.write(struct.pack(">BH", 0x01, 16) + uuidlib.UUID(key).bytes)
        sender = asyncio.ensure_future(self._stream(writer, caller, step))
        try:
            while True:
                # MAX_WAIT_TIMEOUT_MSEC in app_audiosocket.c; our own frames count as activity
                # only while there are some (a DTX caller sends none).
                wait = None if (not caller.dtx and not sender.done()) else 2.0
                try:
                    kind, length = struct.unpack(">BH", await asyncio.wait_for(reader.readexactly(3), wait))
                except TimeoutError:
                    step.inactivity_timeout = True
                    break
                if kind == 0x00:
                    step.hangup_at = time.monotonic()
                    break
                await reader.readexactly(length)
                step.frames_received += kind == 0x10
        except asyncio.IncompleteReadError:
            step.closed_without_hangup = True
        finally:
            sender.cancel()
            writer.close()
        await self._send(b"200 result=-1" if step.inactivity_timeout else b"200 result=0")

    async def _stream(self, writer: asyncio.StreamWriter, caller: Caller, step: StepLog) -> None:
        if caller.dtx:
            return
        start = time.monotonic()
        audio = caller.audio
        frames = [audio[i:i + FRAME_BYTES].ljust(FRAME_BYTES, b"\0") for i in range(0, len(audio), FRAME_BYTES)]
        n = 0
        while True:
            due = start + n * FRAME_S
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            if caller.key is not None and n * FRAME_S >= caller.key_after_s:
                writer.write(struct.pack(">BH", 0x03, 1) + caller.key.encode())
                caller = Caller(audio=b"")               # the key is pressed once
                frames = []
            frame = frames[n] if n < len(frames) else bytes(FRAME_BYTES)
            writer.write(struct.pack(">BH", 0x10, FRAME_BYTES) + frame)
            n += 1
            step.frames_sent = n
            if n == len(frames):
                step.audio_end_at = time.monotonic() + FRAME_S
            await writer.drain()
