"""Recorded AMI streams: a transcript's ``.from_asterisk.bin`` split into the TCP
connections it spans, with the ``.timed.txt`` timing beside it when there is one."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from callcenter.ami.protocol import BANNER_PREFIX, Message, MessageParser

log = logging.getLogger(__name__)


@dataclass
class RecordedMessage:
    message: Message
    at: float | None = None  # seconds since the segment's connection opened


@dataclass
class Segment:
    """What Asterisk sent on one TCP connection of a capture."""

    messages: list[RecordedMessage]

    def events(self, *, skip_login_echo: bool) -> list[RecordedMessage]:
        """Spontaneous events: responses and list items for the capture client's own
        actions (anything carrying an ActionID) are left out; ``skip_login_echo`` drops the
        FullyBooted/SuccessfulAuth pair that answered the recorded Login."""
        out: list[RecordedMessage] = []
        leading = skip_login_echo
        for item in self.messages:
            msg = item.message
            if msg.is_response or msg.action_id:
                continue
            if leading and msg.event in ("FullyBooted", "SuccessfulAuth"):
                continue
            leading = False
            out.append(item)
        return out


@dataclass
class Recording:
    name: str
    segments: list[Segment]

    @classmethod
    def load(cls, path: str | Path) -> Recording:
        """Load ``NAME.from_asterisk.bin``; timing comes from ``NAME.timed.txt`` beside it
        when present. A new banner inside the stream starts a new segment (3e1/3e2 span
        the connection before and the one after ``core restart now``)."""
        path = Path(path)
        data = path.read_bytes()
        banner = BANNER_PREFIX.encode()
        starts = [m.start() for m in re.finditer(re.escape(banner), data)
                  if m.start() == 0 or data[m.start() - 4:m.start()] == b"\r\n\r\n"]
        if not starts or starts[0] != 0:
            starts.insert(0, 0)
        segments: list[Segment] = []
        for i, start in enumerate(starts):
            chunk = data[start: starts[i + 1] if i + 1 < len(starts) else len(data)]
            parser = MessageParser(expect_banner=chunk.startswith(banner), max_line=len(chunk) + 1)
            segments.append(Segment([RecordedMessage(m) for m in parser.feed(chunk)]))
        name = path.name.removesuffix(".from_asterisk.bin")
        timed = path.with_name(f"{name}.timed.txt")
        if timed.is_file():
            _attach_timing(segments, timed.read_text("utf-8"))
        return cls(name, segments)

    def all_events(self) -> list[Message]:
        return [r.message for i, s in enumerate(self.segments) for r in s.events(skip_login_echo=i == 0)]


_TIMED_LINE = re.compile(r"^\[\s*([0-9.]+)\] (.)(?: (.*))?$")


def _attach_timing(segments: list[Segment], text: str) -> None:
    """Give each recorded message the time of its first line in the ``.timed.txt``."""
    times_per_segment: list[list[float]] = []
    current: list[float] | None = None
    in_message = False
    for line in text.splitlines():
        match = _TIMED_LINE.match(line)
        if not match or match.group(2) != ">":
            continue
        at, content = float(match.group(1)), match.group(3) or ""
        if not in_message and content.startswith(BANNER_PREFIX):
            current = []
            times_per_segment.append(current)
            continue
        if current is None:
            current = []
            times_per_segment.append(current)
        if content == "":
            in_message = False
            continue
        if not in_message:
            in_message = True
            current.append(at)
    if len(times_per_segment) != len(segments):
        log.warning("timing file does not match the recording (segments %d vs %d); no timing",
                    len(times_per_segment), len(segments))
        return
    for segment, times in zip(segments, times_per_segment):
        if len(times) != len(segment.messages):
            log.warning("timing file does not match the recording (%d vs %d messages); no timing",
                        len(times), len(segment.messages))
            return
    for segment, times in zip(segments, times_per_segment):
        base = times[0] if times else 0.0
        for item, at in zip(segment.messages, times):
            item.at = at - base
