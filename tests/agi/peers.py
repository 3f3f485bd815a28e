"""A scriptable Asterisk-side peer for tests that go beyond the recorded sessions
(failure policy, timeouts, hostile peers). Replies follow PROTOCOL-NOTES; the header
is the one of transcript 1a with the route replaced."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from .asterisk_args import parse_args
from .transcripts import load

_HEADER_1A = load("fastagi", "1a_route_call").header


def header(route: str = "route_call", **env: str) -> bytes:
    """The 1a header for ``route``; ``env`` replaces values (``uniqueid="1.5"``)."""
    lines = _HEADER_1A.decode("utf-8").split("\n")
    out = []
    for line in lines:
        key = line.split(":", 1)[0]
        if key == "agi_network_script":
            line = f"agi_network_script: {route}"
        elif key == "agi_request":
            line = f"agi_request: agi://127.0.0.1:4573/{route}"
        elif key.startswith("agi_") and key[4:] in env:
            line = f"{key}: {env[key[4:]]}"
        out.append(line)
    return "\n".join(out).encode("utf-8")


def default_reply(argv: list[bytes]) -> bytes:
    verb = b" ".join(argv[:2]).upper()
    if verb == b"GET VARIABLE":
        return b"200 result=1 (13800138000)\n"
    if verb == b"SET VARIABLE" and len(argv) != 4:
        return (b"520-Invalid command syntax.  Proper usage follows:\n"
                b"Sets a variable to the current channel.\n520 End of proper usage.\n")
    return b"200 result=1\n"


@dataclass
class PeerResult:
    commands: list[list[bytes]] = field(default_factory=list)   # argv of every command received
    closed_by_server: bool = False

    def variables(self) -> dict[str, str]:
        return {a[2].decode(): a[3].decode() for a in self.commands
                if len(a) == 4 and a[:2] == [b"SET", b"VARIABLE"]}


async def call(port: int, head: bytes | None = None, *,
               reply: Callable[[list[bytes]], bytes | None] = default_reply,
               timeout: float = 5.0) -> PeerResult:
    """One well-behaved call: header, answer every command, HANGUP after our close.
    ``reply`` returning None ends the call by closing the socket."""
    result = PeerResult()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(head if head is not None else header())
        while True:
            line = await asyncio.wait_for(reader.readline(), timeout)
            if not line:
                result.closed_by_server = True
                writer.write(b"HANGUP\n")       # what Asterisk does after our (half-)close
                break
            argv = parse_args(line.rstrip(b"\n"))
            result.commands.append(argv)
            answer = reply(argv)
            if answer is None:
                break
            writer.write(answer)
    except ConnectionError:
        pass
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass
    return result
