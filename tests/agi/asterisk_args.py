"""How Asterisk reads our commands: a line-for-line model of res_agi.c (Asterisk 22).

Test oracle only. ``read_commands`` models run_agi()'s fgets() loop (8192-byte buffer,
FastAGI keeps reading until a line ends, strlen() stops at a NUL byte) and
``parse_args`` is parse_args() itself: words split on space/tab, ``"`` toggles
quoting (and starts a word after whitespace), ``\\`` makes the next character literal
and is dropped.
"""

from __future__ import annotations

AGI_BUF_LEN = 8192
MAX_ARGS = 128


def _strlen(buf: bytes) -> int:
    nul = buf.find(b"\x00")
    return len(buf) if nul < 0 else nul


def read_commands(data: bytes, fast: bool = True) -> list[bytes]:
    """The command lines Asterisk would execute from this byte stream, in order."""
    commands: list[bytes] = []
    pos = 0
    while pos < len(data):
        buf = b""
        length = AGI_BUF_LEN
        while length > 1:
            limit = pos + length - 1                     # fgets reads at most len-1 bytes
            newline = data.find(b"\n", pos, limit)
            take = data[pos:newline + 1] if newline >= 0 else data[pos:limit]
            if not take:
                break                                    # EOF
            pos += len(take)
            buf = buf[:_strlen(buf)] + take              # fgets(buf + strlen(buf), ...)
            if not fast:
                break
            buflen = _strlen(buf)
            if buflen and buf[buflen - 1:buflen] == b"\n":
                break
            length = AGI_BUF_LEN - buflen
        line = buf[:_strlen(buf)]
        if not line:
            break                                        # "Program terminated"
        if line.endswith(b"\n"):
            line = line[:-1]
        commands.append(line)
    return commands


def parse_args(line: bytes) -> list[bytes]:
    """res_agi.c parse_args(): the argv Asterisk builds from one command line."""
    argv: list[bytearray] = []
    quoted = escaped = False
    whitespace = True
    current: bytearray | None = None
    for byte in line:
        char = bytes([byte])
        if char == b'"' and not escaped:
            quoted = not quoted
            if quoted and whitespace:
                current = bytearray()
                argv.append(current)
                whitespace = False
            escaped = False
            continue
        if char in (b" ", b"\t") and not quoted and not escaped:
            whitespace = True
            continue
        if char == b"\\" and not escaped:
            escaped = True
            continue
        # "normal": a literal character
        if whitespace:
            if len(argv) >= MAX_ARGS - 1:
                continue                                 # "Too many arguments, truncating"
            current = bytearray()
            argv.append(current)
            whitespace = False
        current.extend(char)
        escaped = False
    return [bytes(word) for word in argv]


def command_argv(data: bytes) -> list[list[bytes]]:
    """Every command in a byte stream as Asterisk's argv lists."""
    return [parse_args(line) for line in read_commands(data)]
