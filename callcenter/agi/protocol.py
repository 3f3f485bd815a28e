"""The AGI wire format, without any I/O: command quoting, header parsing, reply parsing.

The FastAGI server (``callcenter.agi.server``) and the per-call scripts
(``callcenter.agi.pyst``) feed lines into the same functions here, so both transports
agree byte for byte. The facts below come from real Asterisk 22 captures and from
``res/res_agi.c``:

* Asterisk ends every line with ``\\n``. The header is ``agi_key: value`` lines and an
  empty line; values are written raw, so a newline inside a caller name forges an
  extra header line (``agi_injected: yes``) or a colon-less one.
* Commands are split by ``parse_args()``: words are separated by spaces or tabs,
  double quotes group, a backslash makes the next character literal (and is itself
  dropped). A command line longer than 8191 bytes is cut by ``fgets`` and the rest
  runs as a *second command*; a NUL byte makes Asterisk glue the next command line
  onto this one. So every word we send is quoted when needed, newlines/CR/NUL are
  replaced, and over-long lines are refused.
* Replies: ``200 result=N [(data)] [endpos=N]``, ``510 ...``, ``511 ...`` (dead
  channel), and ``520-...`` usage blocks that end with a line starting ``520 ``.
  A value with a newline makes a ``200 result=1 (`` reply span several lines.
* ``HANGUP`` arrives unsolicited (FastAGI only), between replies or while idle.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from callcenter.encoding import decode_network_text

# --- what travels --------------------------------------------------------------------

@dataclass(frozen=True)
class AGIReply:
    """One parsed reply: ``200 result=1 (value) endpos=123`` → code 200, result "1", data "value"."""

    code: int
    result: str = ""
    data: str | None = None          # the text in parentheses, None when absent
    endpos: int | None = None
    raw: str = ""

    @property
    def ok(self) -> bool:
        return self.code == 200


@dataclass
class AGIRequest:
    """The AGI header Asterisk sends first (``agi_*`` lines) plus the parsed route."""

    env: dict[str, str] = field(default_factory=dict)   # keys without the agi_ prefix
    route: str = ""                                      # e.g. "route_call" (no query string)
    query: dict[str, str] = field(default_factory=dict)  # parsed ?a=b of agi_network_script
    args: list[str] = field(default_factory=list)        # agi_arg_1..N in order
    # Signs of lines forged by a newline inside a value (duplicate or out-of-order keys,
    # colon-less lines); empty for every header Asterisk writes on its own.
    anomalies: list[str] = field(default_factory=list)

    def get(self, key: str, default: str = "") -> str:
        value = self.env.get(key, default)
        return default if value == "unknown" else value


# --- limits ----------------------------------------------------------------------------
# res_agi reads commands with fgets() into an 8192-byte buffer: the line, "\n" included,
# must fit in 8191 bytes or its tail is executed as a separate command.
MAX_COMMAND_BYTES = 8190
# What we accept from a peer. Asterisk's longest lines are 520 usage texts (~1.2 kB) and
# variable values (GET VARIABLE uses a 4 kB buffer); anything far beyond is hostile.
MAX_LINE_BYTES = 16 * 1024
MAX_HEADER_LINES = 256
MAX_HEADER_BYTES = 64 * 1024
# A multi-line reply (520 usage block, value with newlines) longer than this is garbage.
MAX_REPLY_LINES = 64

HANGUP_LINE = "HANGUP"

# The keys Asterisk writes, in the order it writes them (res_agi.c setup_env()).
HEADER_KEYS = (
    "network", "network_script", "request", "channel", "language", "type", "uniqueid",
    "version", "callerid", "calleridname", "callingpres", "callingani2", "callington",
    "callingtns", "dnid", "rdnis", "context", "extension", "priority", "enhanced",
    "accountcode", "threadid",
)
_KEY_ORDER = {key: index for index, key in enumerate(HEADER_KEYS)}


class AGIProtocolError(Exception):
    """The peer broke the wire format beyond repair (over-long line, endless reply)."""


class AGICommandTooLong(ValueError):
    """The command would not fit in Asterisk's command buffer; it was not sent."""


# --- commands -----------------------------------------------------------------------------

_NEEDS_QUOTES = frozenset(' \t"\\')
_LINE_BREAKS = str.maketrans({"\r": " ", "\n": " ", "\x00": None})


def clean(value: object) -> str:
    """The text of ``value`` as it can travel inside one command line.

    CR and LF cannot be transmitted (they end the command), so each becomes a space;
    NUL is dropped (Asterisk would glue our next command onto this one).
    """
    text = value if isinstance(value, str) else str(value)
    if "\r" in text or "\n" in text or "\x00" in text:
        text = text.replace("\r\n", "\n").translate(_LINE_BREAKS)
    return text


def quote(value: object) -> str:
    """One command word, quoted only when Asterisk's parser would otherwise split or
    alter it: empty, or containing a space, tab, double quote or backslash."""
    text = clean(value)
    if text and _NEEDS_QUOTES.isdisjoint(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def format_command(verb: str, *args: object) -> str:
    """``format_command("SET VARIABLE", name, value)`` → the line to send, without ``\n``.

    The verb is ours (trusted, unquoted); every argument is quoted as needed.
    Raises AGICommandTooLong when the line would not reach Asterisk whole.
    """
    line = " ".join([verb, *map(quote, args)]) if args else verb
    size = len(line)
    # A str needs at most 4 bytes per character: encode only when it might not fit.
    if size * 4 + 1 > MAX_COMMAND_BYTES:
        size = len(line.encode("utf-8", "replace"))
        if size + 1 > MAX_COMMAND_BYTES:
            raise AGICommandTooLong(
                f"{verb}: {size + 1} bytes exceeds Asterisk's {MAX_COMMAND_BYTES}-byte command buffer")
    return line


def encode_command(line: str) -> bytes:
    """The bytes of a formatted command line, ``\n`` included."""
    return line.encode("utf-8", "replace") + b"\n"


def decode_line(raw: bytes) -> str:
    """A received line as text (``callcenter.encoding``: UTF-8, else GBK as older
    carriers send caller names, else invalid bytes replaced: they are caller data, and a
    lone surrogate would break the database later); a stray CR dropped."""
    if raw.endswith(b"\r"):
        raw = raw[:-1]
    return decode_network_text(raw)[0]


def decode_lines(data: bytes) -> str:
    """Complete lines received together, as text: one decode for the whole chunk when it
    is UTF-8 (the usual case), else line by line as ``decode_line`` does."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "\n".join(decode_network_text(raw)[0] for raw in data.split(b"\n"))


# --- header -----------------------------------------------------------------------------

class HeaderParser:
    """Collects ``agi_*`` lines until the empty line; tolerant of forged lines.

    * The first occurrence of a key wins: a forged copy of a key Asterisk writes
      earlier than the injected value can never replace the real one.
    * A line without a colon is the rest of the previous value (its value contained
      a newline), so ``agi_arg_1: line1`` + ``line2`` gives ``line1\\nline2``.
    * Duplicates, colon-less lines, keys out of Asterisk's order and lines without the
      ``agi_`` prefix are listed in ``request.anomalies`` so a handler can decide how far
      to trust the header.
    * Asterisk writes ``agi_threadid`` last of its fixed keys (then the arguments, then
      the empty line). An empty line before it is suspect: a caller name carrying
      ``\n\n`` ends the header early and the lines it forged would be taken for the
      whole header. ``early_end`` says so; the transport then waits a moment for more
      lines and, when they come, calls ``resume()``, which records the anomaly and goes
      on reading the real header.
    """

    __slots__ = ("env", "anomalies", "early_end", "_last_key", "_last_order", "_lines")

    def __init__(self) -> None:
        self.env: dict[str, str] = {}
        self.anomalies: list[str] = []
        self.early_end = False
        self._last_key: str | None = None
        self._last_order = -1
        self._lines = 0

    def resume(self) -> None:
        """Header lines came after an early empty line: it was forged; read on."""
        self.early_end = False
        self.anomalies.append("empty line inside the header before agi_threadid (a value carried a newline)")

    def feed(self, line: str) -> bool:
        """Take one header line; True when it was the empty line that ends the header."""
        return self.feed_lines((line,)) is not None

    def feed_lines(self, lines) -> int | None:
        """Take header lines (as ``feed`` does) until the empty line: returns how many
        lines that took, or None when the header goes on."""
        env = self.env
        anomalies = self.anomalies
        for index, line in enumerate(lines):
            if not line:
                self.early_end = "threadid" not in env
                return index + 1
            self._lines += 1
            if self._lines > MAX_HEADER_LINES:
                raise AGIProtocolError(f"AGI header longer than {MAX_HEADER_LINES} lines")
            key, colon, value = line.partition(":")
            if not colon:
                self._continue(line)
                continue
            if value[:1] == " ":
                value = value[1:]
            if key[:4] != "agi_":
                anomalies.append(f"foreign line {line[:80]!r}")
                self._continue(line)
                continue
            key = key[4:]
            if key in env:
                anomalies.append(f"duplicate agi_{key}")
                self._last_key = None  # a forged line's continuation must not extend the real value
                continue
            env[key] = value
            self._last_key = key
            order = _KEY_ORDER.get(key)
            if order is not None:
                if order < self._last_order:
                    anomalies.append(f"agi_{key} out of order")
                self._last_order = order
        return None

    def _continue(self, line: str) -> None:
        if self._last_key is None:
            self.anomalies.append(f"stray line {line[:80]!r}")
            return
        self.anomalies.append(f"continued agi_{self._last_key}")
        self.env[self._last_key] += "\n" + line

    def request(self) -> AGIRequest:
        return build_request(self.env, self.anomalies)


def build_request(env: dict[str, str], anomalies: list[str] | None = None) -> AGIRequest:
    """The route (``agi_network_script`` without its query), the query and the args.

    Classic AGI has no ``agi_network_script``; its route is given by the script.
    """
    script = env.get("network_script", "")
    route, _, query_text = script.partition("?")
    query = dict(parse_qsl(query_text, keep_blank_values=True)) if query_text else {}
    args: list[str] = []
    n = 1
    while True:
        value = env.get(f"arg_{n}")
        if value is None:
            break
        args.append(value)
        n += 1
    return AGIRequest(env=env, route=route.strip("/"), query=query, args=args,
                      anomalies=anomalies if anomalies is not None else [])


def parse_header(lines: list[str]) -> AGIRequest:
    """Parse complete header lines (for tests and the stdin transport)."""
    parser = HeaderParser()
    for line in lines:
        if parser.feed(line):
            break
    return parser.request()


# --- replies ------------------------------------------------------------------------------

def _is_complete_200(line: str) -> bool:
    """False when a ``200 result=x (`` reply lacks its closing parenthesis: the value
    contained a newline and the rest of the reply is on the next line(s)."""
    paren = line.find(" (", 4)
    if paren < 0:
        return True
    close = line.rfind(")")
    if close < paren:
        return False
    tail = line[close + 1:]
    return not tail or tail.startswith(" endpos=")


def parse_reply(text: str) -> AGIReply:
    """Parse one complete reply (joined with ``\\n`` when it spanned several lines)."""
    code_text = text[:3]
    if not code_text.isdigit():
        raise AGIProtocolError(f"not an AGI reply: {text[:80]!r}")
    code = int(code_text)
    if code != 200:
        return AGIReply(code=code, raw=text)
    body = text[4:]
    if not body.startswith("result="):
        return AGIReply(code=code, raw=text)
    rest = body[7:]
    space = rest.find(" ")
    if space < 0:
        return AGIReply(code=200, result=rest, raw=text)
    result, tail = rest[:space], rest[space + 1:]
    data = None
    endpos = None
    if tail.startswith("("):
        close = tail.rfind(")")
        data = tail[1:close]
        tail = tail[close + 1:].lstrip(" ")
    if tail.startswith("endpos="):
        try:
            endpos = int(tail[7:])
        except ValueError:
            endpos = None
    return AGIReply(code=200, result=result, data=data, endpos=endpos, raw=text)


# The replies most commands get (SET VARIABLE, EXEC, NOOP ...), parsed once: AGIReply
# is immutable, so one object serves every call.
COMMON_REPLIES = {text: parse_reply(text) for text in ("200 result=0", "200 result=1", "200 result=-1")}


class ReplyAssembler:
    """Turns reply lines into complete replies: 520 usage blocks and values with
    newlines span several lines. ``feed`` returns the reply text once complete."""

    __slots__ = ("_parts", "_mode")

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._mode = 0   # 0 idle, 1 inside a 520 block, 2 inside a multi-line 200 value

    @property
    def busy(self) -> bool:
        return self._mode != 0

    def reset(self) -> None:
        self._parts.clear()
        self._mode = 0

    def feed(self, line: str) -> str | None:
        mode = self._mode
        if mode == 0:
            if line.startswith("520-"):
                self._parts.append(line)
                self._mode = 1
                return None
            if line.startswith("200 ") and not _is_complete_200(line):
                self._parts.append(line)
                self._mode = 2
                return None
            return line
        parts = self._parts
        parts.append(line)
        if len(parts) > MAX_REPLY_LINES:
            self.reset()
            raise AGIProtocolError(f"reply longer than {MAX_REPLY_LINES} lines")
        if mode == 1:
            if not line.startswith("520 "):
                return None
            text = "\n".join(parts)
        else:
            if ")" not in line:
                return None
            text = "\n".join(parts)
            if not _is_complete_200(text):
                return None
        self.reset()
        return text


def looks_like_reply(line: str) -> bool:
    """A line that can start a reply: three digits then a space or a dash."""
    return len(line) >= 4 and line[3] in " -" and line[:3].isdigit()
