"""Recorded Asterisk sessions (tests/fixtures/transcripts) and a peer that replays them.

The replay peer plays Asterisk's side of a ``*.timed.txt`` transcript against our code:
it sends the exact ``from_asterisk`` header bytes, then for every command our side
sends it checks the command against the recorded one *as Asterisk would parse it*
(``asterisk_args.parse_args``), and answers with the recorded reply lines, keeping
the recorded gaps between Asterisk's lines (capped, so an idle 3 s becomes 0.1 s but
the 40 ms between a ``200 result=-1`` and the unsolicited ``HANGUP`` stay real).
Lines Asterisk sent in the same read go out in one write; a multi-line 520 block whose
lines arrived 40 ms apart arrives in two writes, as it did.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from .asterisk_args import parse_args

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "transcripts"
MAX_GAP_S = 0.1
_TIMED = re.compile(r"^\[\s*([0-9.]+)\] (.)(?: (.*))?$")
_ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})")


@dataclass
class Event:
    t: float
    kind: str          # ">" from Asterisk, "<" to Asterisk, "#" note
    text: bytes        # raw line bytes (no terminator) or the note text


@dataclass
class Transcript:
    name: str
    header: bytes                 # exact bytes of the header, empty line included
    events: list[Event]           # everything after the header, in time order
    from_asterisk: bytes
    to_asterisk: bytes

    @property
    def commands(self) -> list[bytes]:
        return [e.text for e in self.events if e.kind == "<"]

    @property
    def header_lines(self) -> list[str]:
        return self.header.decode("utf-8").split("\n")[:-2]


def load(kind: str, name: str) -> Transcript:
    folder = FIXTURES / kind
    events: list[Event] = []
    for line in (folder / f"{name}.timed.txt").read_text(encoding="utf-8").splitlines():
        match = _TIMED.match(line)
        if not match:
            continue
        t, direction, text = float(match[1]), match[2], match[3] or ""
        raw = _ESCAPE.sub(lambda m: bytes([int(m[1], 16)]), text.encode("utf-8"))
        events.append(Event(t, direction, raw))
    from_asterisk = (folder / f"{name}.from_asterisk.bin").read_bytes()
    to_asterisk = (folder / f"{name}.to_asterisk.bin").read_bytes()
    # The header is every ">" line up to and including the first empty one.
    end = next(i for i, e in enumerate(events) if e.kind == ">" and e.text == b"")
    header_events = [e for e in events[:end + 1] if e.kind == ">"]
    header = b"".join(e.text + b"\n" for e in header_events)
    assert from_asterisk.startswith(header), f"{name}: header does not match the .bin"
    return Transcript(name, header, events[end + 1:], from_asterisk, to_asterisk)


@dataclass
class ReplayResult:
    commands: list[bytes] = field(default_factory=list)   # what our side sent
    errors: list[str] = field(default_factory=list)
    finished: bool = False                                # the whole transcript was played
    saw_close: bool = False                               # our side closed / half-closed


class Replay:
    """Asterisk's half of a transcript, over any (reader, writer) pair."""

    def __init__(self, transcript: Transcript, *, on_signal: Callable[[str], None] | None = None,
                 command_timeout: float = 5.0) -> None:
        self.t = transcript
        self.on_signal = on_signal
        self.command_timeout = command_timeout
        self.result = ReplayResult()

    async def run(self, reader: asyncio.StreamReader, write: Callable[[bytes], Awaitable[None]]) -> ReplayResult:
        result = self.result
        await write(self.t.header)
        last_t = self.t.events[0].t if self.t.events else 0.0
        events = self.t.events
        i = 0
        while i < len(events):
            event = events[i]
            if event.kind == ">":
                # Lines Asterisk sent together (same timestamp) go out in one write.
                batch = [event.text]
                j = i + 1
                while j < len(events) and events[j].kind == ">" and events[j].t == event.t:
                    batch.append(events[j].text)
                    j += 1
                gap = min(max(event.t - last_t, 0.0), MAX_GAP_S)
                if gap:
                    await asyncio.sleep(gap)
                await write(b"".join(line + b"\n" for line in batch))
                last_t = event.t
                i = j
                continue
            if event.kind == "<":
                line = await self._read_line(reader)
                if line is None:
                    result.errors.append(f"expected {event.text!r}, but our side closed")
                    return result
                result.commands.append(line)
                if parse_args(line) != parse_args(event.text):
                    result.errors.append(f"command {line!r} differs from recorded {event.text!r}")
                    return result
                last_t = event.t
                i += 1
                continue
            note = event.text.decode("utf-8")
            if "shutdown(SHUT_WR)" in note or "server: close()" in note or "closes stdout" in note:
                line = await self._read_line(reader)
                if line is not None:
                    result.errors.append(f"expected our side to close, got {line!r}")
                    return result
                result.saw_close = True
                last_t = event.t
            elif "received signal" in note and self.on_signal is not None:
                self.on_signal(note)
            i += 1
        result.finished = True
        return result

    async def _read_line(self, reader: asyncio.StreamReader) -> bytes | None:
        try:
            line = await asyncio.wait_for(reader.readline(), self.command_timeout)
        except (ConnectionError, TimeoutError) as exc:
            self.result.errors.append(f"read failed: {exc!r}")
            return None
        if not line:
            return None
        return line[:-1] if line.endswith(b"\n") else line


async def replay_over_tcp(transcript: Transcript, port: int, **kw) -> ReplayResult:
    """Connect to our FastAGI server like Asterisk and replay the transcript."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)

    async def write(data: bytes) -> None:
        if not writer.is_closing():
            writer.write(data)
            try:
                await writer.drain()
            except ConnectionError:
                pass

    try:
        return await Replay(transcript, **kw).run(reader, write)
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass
