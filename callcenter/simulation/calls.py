"""The Asterisk side of a FastAGI session, for ``callcenter demo`` (no telephone system).

It connects to the real FastAGI server exactly as Asterisk does (header of
``agi_*`` lines, then one reply per command, ``HANGUP`` after the server closes) and
answers commands the way Asterisk 22 does in the recorded transcripts: STREAM FILE
plays to the end, GET DATA returns the caller's scripted key presses, SET VARIABLE
stores the value. What the route decided is read back from the variables it set.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field

_sequence = itertools.count(1)


def new_uniqueid() -> str:
    """An Asterisk-style uniqueid: epoch seconds, a dot, a per-process counter."""
    return f"{int(time.time())}.{next(_sequence)}"


def split_arguments(line: str) -> list[str]:
    """Split a command line as res_agi does: spaces separate, double quotes group,
    a backslash escapes the next character."""
    words: list[str] = []
    current: list[str] = []
    quoted = escaped = started = False
    for char in line:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = started = True
        elif char == '"':
            quoted = not quoted
            started = True
        elif char == " " and not quoted:
            if started:
                words.append("".join(current))
            current, started = [], False
        else:
            current.append(char)
            started = True
    if started:
        words.append("".join(current))
    return words


@dataclass
class SimulatedCall:
    """One inbound call: who calls which hotline, and the keys they will press."""

    dialled: str
    caller_number: str
    caller_name: str
    keys: list[str] = field(default_factory=list)  # one entry per GET DATA, e.g. ["2"]
    uniqueid: str = field(default_factory=new_uniqueid)
    route: str = "route_call"

    @property
    def channel(self) -> str:
        return f"PJSIP/trunk-{self.uniqueid.replace('.', '')[-8:]}"

    def header(self, host: str, port: int) -> bytes:
        env = [
            ("network", "yes"), ("network_script", self.route),
            ("request", f"agi://{host}:{port}/{self.route}"), ("channel", self.channel),
            ("language", "en"), ("type", "PJSIP"), ("uniqueid", self.uniqueid), ("version", "22.10.1"),
            ("callerid", self.caller_number or "unknown"), ("calleridname", self.caller_name or "unknown"),
            ("callingpres", "0"), ("callingani2", "0"), ("callington", "0"), ("callingtns", "0"),
            ("dnid", self.dialled), ("rdnis", "unknown"), ("context", "hotline"),
            ("extension", self.dialled), ("priority", "2"), ("enhanced", "0.0"), ("accountcode", ""),
            ("threadid", "140460397172416"), ("arg_1", self.uniqueid),
        ]
        text = "".join(f"agi_{key}: {value}\n" for key, value in env) + "\n"
        return text.encode("utf-8")


@dataclass
class SessionResult:
    variables: dict[str, str]
    commands: list[str]


async def run_session(call: SimulatedCall, host: str, port: int, timeout: float = 30.0) -> SessionResult:
    """Play Asterisk for one AGI session; returns the variables the route set."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    variables: dict[str, str] = {}
    commands: list[str] = []
    keys = iter(call.keys)
    try:
        writer.write(call.header(host, port))
        await writer.drain()
        while True:
            raw = await asyncio.wait_for(reader.readline(), timeout)
            if not raw:
                break
            line = raw.decode("utf-8", "replace").rstrip("\n")
            commands.append(line)
            writer.write(_reply(line, variables, keys).encode("utf-8"))
            await writer.drain()
        # The server closed its side: Asterisk says HANGUP once more, then closes.
        writer.write(b"HANGUP\n")
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass
    return SessionResult(variables, commands)


def _reply(line: str, variables: dict[str, str], keys) -> str:
    words = split_arguments(line)
    verb = " ".join(words[:2]).upper()
    if verb == "SET VARIABLE" and len(words) == 4:
        variables[words[2]] = words[3]
        return "200 result=1\n"
    if verb == "GET VARIABLE" and len(words) == 3:
        value = variables.get(words[2])
        return "200 result=0\n" if value is None else f"200 result=1 ({value})\n"
    if verb == "STREAM FILE":
        return "200 result=0 endpos=16000\n"
    if verb == "GET DATA":
        digits = next(keys, "")
        return f"200 result={digits}\n" if digits else "200 result= (timeout)\n"
    if verb == "WAIT FOR":
        return "200 result=0\n"
    if verb == "RECORD FILE":
        return "200 result=0 (timeout) endpos=0\n"
    if verb == "HANGUP":
        return "200 result=1\nHANGUP\n"
    if words and words[0].upper() in {"ANSWER", "NOOP", "EXEC", "SAY"}:
        return "200 result=0\n"
    if words and words[0].upper() == "VERBOSE":
        return "200 result=1\n"
    return "510 Invalid or unknown command\n"
