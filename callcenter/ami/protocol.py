"""The AMI wire format, shared by the client and the emulator.

What Asterisk 22 actually sends (see the AMI transcripts):
- the first line after TCP connect is the banner ``Asterisk Call Manager/11.0.0`` (CRLF,
  no blank line after it);
- a message is ``Key: Value`` lines, each ending in CRLF; an empty line ends it;
- field order is meaningful to people reading captures but not to the protocol; keys
  are case-insensitive (``Uniqueid`` in channel events, ``UniqueID`` in ``Cdr``);
- a key can repeat (``Output:`` lines of a Command response, ``Variable:`` in Originate);
- values are raw bytes, normally UTF-8 (Chinese caller names, pause reasons); a caller
  name from an older carrier or PBX can be GBK, which Asterisk passes on untouched. Each
  line is decoded on its own: UTF-8, else GB18030 (a superset of GBK), else UTF-8 with
  the bad bytes replaced, so one odd field never costs the event; an empty value keeps
  the space (``AccountCode: ``).

The parser is incremental and works on bytes: a UTF-8 character split across two TCP
reads is decoded only once its line is complete, so nothing is lost at read
boundaries. A line without a colon does not stop the stream: the message that
carries it is marked with a defect and the reader decides what to do with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Union

from callcenter.encoding import GBK, REPLACED, decode_network_text

BANNER_PREFIX = "Asterisk Call Manager/"
EOL = b"\r\n"

# A line longer than this without CRLF is not AMI; the connection is dropped instead
# of buffering without bound.
MAX_LINE_BYTES = 64 * 1024
MAX_FIELDS = 2000

FieldValue = Union[str, int, float, bool, None, Sequence[str]]


class AMIProtocolError(Exception):
    """The peer does not speak AMI (no banner, an endless line, ...)."""


class Message:
    """One AMI message: an ordered list of (key, value) pairs with case-insensitive lookup."""

    __slots__ = ("fields", "defects", "broken", "_index")

    def __init__(self, fields: Iterable[tuple[str, str]] = (), defects: Iterable[str] = (),
                 broken: bool | None = None) -> None:
        self.fields: list[tuple[str, str]] = list(fields)
        # Everything odd about the message as it arrived (text re-decoded, lines dropped).
        self.defects: list[str] = list(defects)
        # True when a line of it was lost (no "Key: "), so the message cannot be trusted;
        # text that needed another encoding does not break a message.
        self.broken = bool(self.defects) if broken is None else broken
        index: dict[str, str] = {}
        for key, value in self.fields:
            index.setdefault(key.lower(), value)
        self._index = index

    # --- lookup ---------------------------------------------------------------
    def get(self, key: str, default: str = "") -> str:
        return self._index.get(key.lower(), default)

    def getall(self, key: str) -> list[str]:
        key = key.lower()
        return [v for k, v in self.fields if k.lower() == key]

    def __getitem__(self, key: str) -> str:
        return self._index[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._index

    def keys(self) -> list[str]:
        return [k for k, _ in self.fields]

    @property
    def event(self) -> str:
        return self.get("Event")

    @property
    def response(self) -> str:
        return self.get("Response")

    @property
    def action(self) -> str:
        return self.get("Action")

    @property
    def action_id(self) -> str:
        return self.get("ActionID")

    @property
    def is_event(self) -> bool:
        return "event" in self._index

    @property
    def is_response(self) -> bool:
        return "response" in self._index

    # --- output ---------------------------------------------------------------
    def to_bytes(self) -> bytes:
        return b"".join(f"{k}: {v}".encode() + EOL for k, v in self.fields) + EOL

    def __repr__(self) -> str:
        head = self.event and f"Event={self.event}" or self.response and f"Response={self.response}" \
            or self.action and f"Action={self.action}" or "?"
        extra = f" defects={self.defects}" if self.defects else ""
        return f"<Message {head} ({len(self.fields)} fields){extra}>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and self.fields == other.fields

    __hash__ = None  # type: ignore[assignment]


def _text(value: FieldValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check(part: str, what: str) -> str:
    # A CR or LF inside a value would end the line early and let the rest forge
    # headers (the AGI transcripts show a caller name doing exactly that).
    if "\r" in part or "\n" in part:
        raise ValueError(f"AMI {what} must not contain CR or LF: {part!r}")
    return part


def build_message(pairs: Iterable[tuple[str, FieldValue]]) -> Message:
    """Build a message from (key, value) pairs; None values are left out, lists repeat the key."""
    fields: list[tuple[str, str]] = []
    for key, value in pairs:
        if value is None:
            continue
        _check(key, "key")
        if ":" in key or not key:
            raise ValueError(f"bad AMI key {key!r}")
        if isinstance(value, (list, tuple)):
            fields.extend((key, _check(_text(v), "value")) for v in value)
        else:
            fields.append((key, _check(_text(value), "value")))
    return Message(fields)


def format_action(action: str, action_id: str | None = None,
                  fields: Mapping[str, FieldValue] | Iterable[tuple[str, FieldValue]] = ()) -> bytes:
    """Bytes of an action: ``Action`` first, then ``ActionID``, then the fields in order."""
    items = fields.items() if isinstance(fields, Mapping) else fields
    pairs: list[tuple[str, FieldValue]] = [("Action", action), ("ActionID", action_id)]
    pairs.extend((k, v) for k, v in items if k.lower() not in ("action", "actionid"))
    return build_message(pairs).to_bytes()


class MessageParser:
    """Feed bytes as they arrive; get complete messages back.

    ``expect_banner=True`` (client side) takes the very first line as the banner and
    keeps it in ``banner``; the emulator parses actions with ``expect_banner=False``.
    """

    def __init__(self, *, expect_banner: bool = False, max_line: int = MAX_LINE_BYTES) -> None:
        self._buffer = bytearray()
        self._fields: list[tuple[str, str]] = []
        self._defects: list[str] = []
        self._broken = False
        self._want_banner = expect_banner
        self._max_line = max_line
        self.banner: str | None = None

    def feed(self, data: bytes) -> list[Message]:
        self._buffer += data
        out: list[Message] = []
        start = 0
        buf = self._buffer
        while True:
            end = buf.find(EOL, start)
            if end < 0:
                break
            raw = bytes(buf[start:end])
            start = end + 2
            if self._want_banner:
                self._want_banner = False
                self.banner = raw.decode("utf-8", "replace")
                continue
            if not raw:
                if self._fields or self._defects:
                    out.append(Message(self._fields, self._defects, self._broken))
                    self._fields, self._defects, self._broken = [], [], False
                continue
            self._line(raw)
        del buf[:start]
        if len(buf) > self._max_line:
            raise AMIProtocolError(f"line longer than {self._max_line} bytes without CRLF")
        return out

    def _line(self, raw: bytes) -> None:
        line = self._decode(raw)
        key, sep, value = line.partition(":")
        if not sep or not key or key != key.strip():
            self._defects.append(f"line without 'Key: ' {line[:60]!r}")
            self._broken = True
            return
        if len(self._fields) >= MAX_FIELDS:
            self._defects.append("too many fields")
            self._broken = True
            return
        # Asterisk always writes "Key: Value"; accept "Key:Value" too.
        self._fields.append((key, value[1:] if value.startswith(" ") else value))

    def _decode(self, raw: bytes) -> str:
        """One line's text (``callcenter.encoding``): only this line is affected."""
        line, how = decode_network_text(raw)
        if how == REPLACED:
            self._defects.append(f"invalid UTF-8 in line {line[:60]!r}: undecodable bytes replaced")
        elif how == GBK:
            self._defects.append(f"invalid UTF-8 in line {line[:60]!r}: read as GBK")
        return line

    @property
    def pending(self) -> bool:
        """True while a message has started but not ended (useful at EOF)."""
        return bool(self._fields or self._defects or self._buffer)


def iter_messages(data: bytes, *, expect_banner: bool = False) -> Iterator[Message]:
    parser = MessageParser(expect_banner=expect_banner, max_line=max(len(data), MAX_LINE_BYTES))
    yield from parser.feed(data)


def banner_version(banner: str | None) -> str | None:
    """``Asterisk Call Manager/11.0.0`` → ``11.0.0``; None when it is not an AMI banner."""
    if not banner or not banner.startswith(BANNER_PREFIX):
        return None
    return banner[len(BANNER_PREFIX):].strip()
