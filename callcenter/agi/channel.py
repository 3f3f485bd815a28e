"""The AGI channel as handlers see it, whatever carries it (FastAGI socket or stdin/stdout).

Handlers in ``callcenter.agi.handlers`` are ``async def handler(channel, ctx)`` and only
use this interface, so the FastAGI server and the per-call scripts in ``agi_scripts/``
run exactly the same code. Concrete channels implement ``_exchange``; everything
else (quoting, reply parsing, error mapping) lives here and in ``protocol``.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import NoReturn

from callcenter.agi import protocol
from callcenter.agi.protocol import AGIReply, AGIRequest


class AGIError(Exception):
    """Asterisk refused a command (510 unknown, 520 usage) or answered nonsense."""

    def __init__(self, message: str, reply: AGIReply | None = None) -> None:
        super().__init__(message)
        self.reply = reply


class AGIHangup(Exception):
    """The channel is gone: the caller hung up (HANGUP line, SIGHUP, 511, result=-1 on hangup)."""


class AGIConnectionLost(AGIHangup):
    """The transport closed (EOF, reset) or stalled past the command timeout."""


@dataclass(frozen=True)
class StreamResult:
    digit: str | None                # the escape digit pressed, if any
    endpos: int | None


@dataclass(frozen=True)
class DigitsResult:
    digits: str                      # what the caller typed (may be "")
    timed_out: bool                  # GET DATA returned "(timeout)"


# How long a helper waits, after a media command answered ``result=-1``, for Asterisk to
# confirm a hangup (the HANGUP line follows ~40-50 ms later; classic AGI gets SIGHUP at
# once). Without that confirmation the -1 is an error such as a missing sound file.
HANGUP_CONFIRM_S = 0.25


class AGIChannel(abc.ABC):
    """Command helpers built on one primitive: send a command line, read its reply.

    Hangups: once Asterisk has announced a hangup (``HANGUP`` line, SIGHUP, a 511 reply,
    or our own HANGUP command) every further command raises :class:`AGIHangup` before
    it is sent, so a handler notices the hangup at its next step and can record the
    call consistently. Commands Asterisk still serves on a dead channel (GET/SET
    VARIABLE, VERBOSE, EXEC, NOOP, DATABASE) can be sent anyway with ``dead_ok=True``.
    """

    request: AGIRequest
    hung_up: bool = False

    @abc.abstractmethod
    async def _exchange(self, command_line: str) -> AGIReply:
        """Send one already-quoted command line; return the parsed reply.

        Implementations raise AGIHangup / AGIConnectionLost when the channel or the
        transport is gone, and set ``self.hung_up`` when Asterisk announced a hangup.
        """

    async def _wait_hangup(self, timeout: float) -> bool:
        """True when a hangup is (or becomes, within ``timeout``) known. Transports that
        can hear the hangup notice arrive override this; the default only looks."""
        return self.hung_up

    async def command(self, *words: object, dead_ok: bool = False) -> AGIReply:
        """Send a command built from words; every word after the verb is quoted safely.

        ``command("SET VARIABLE", name, value)``. Returns the 200 reply (whatever its
        result); raises AGIHangup on a hangup or a 511, AGIError on 510/520/other codes,
        ``protocol.AGICommandTooLong`` (a ValueError) when the line cannot be sent whole.
        """
        if self.hung_up and not dead_ok:
            raise AGIHangup(f"channel hung up before {words[0]}")
        line = protocol.format_command(str(words[0]), *words[1:])
        reply = await self._exchange(line)
        if reply.code == 200:
            return reply
        self._refused(reply, words[0])

    def _refused(self, reply: AGIReply, verb: object) -> NoReturn:
        """Raise what a reply other than 200 means (see ``command``)."""
        code = reply.code
        if code == 511:
            self.hung_up = True
            raise AGIHangup(f"{verb}: {reply.raw}")
        if code == 510:
            raise AGIError(f"{verb}: unknown command", reply)
        if code == 520:
            raise AGIError(f"{verb}: invalid syntax: {reply.raw}", reply)
        raise AGIError(f"{verb}: unexpected reply {reply.raw[:120]!r}", reply)

    async def _failed(self, reply: AGIReply, what: str) -> None:
        """A media command answered -1: a hangup (raise AGIHangup) or an error."""
        if reply.data == "hangup" or await self._wait_hangup(HANGUP_CONFIRM_S):
            self.hung_up = True
            raise AGIHangup(f"{what}: caller hung up")
        raise AGIError(f"{what} failed: {reply.raw}", reply)

    # Convenience wrappers (see PROTOCOL-NOTES for the reply shapes each parses).
    async def answer(self) -> None:
        reply = await self.command("ANSWER")
        if reply.result == "-1":
            await self._failed(reply, "ANSWER")

    async def get_variable(self, name: str) -> str | None:
        """The variable's value ("" when set but empty), None when it is not set."""
        reply = await self.command("GET VARIABLE", name)
        return reply.data if reply.result == "1" else None

    async def set_variable(self, name: str, value: str) -> None:
        await self.command("SET VARIABLE", name, value)

    async def set_variables(self, variables: dict[str, str]) -> None:
        """One SET VARIABLE per entry, each sent after the previous reply (Asterisk reads
        one command at a time); ``command``'s checks, without its frame per variable."""
        exchange = self._exchange
        for name, value in variables.items():
            if self.hung_up:
                raise AGIHangup("channel hung up before SET VARIABLE")
            reply = await exchange(protocol.format_command("SET VARIABLE", name, value))
            if reply.code != 200:
                self._refused(reply, "SET VARIABLE")

    async def stream_file(self, filename: str, escape_digits: str = "") -> StreamResult:
        reply = await self.command("STREAM FILE", filename, escape_digits)
        if reply.result == "-1":
            await self._failed(reply, f"STREAM FILE {filename}")
        return StreamResult(digit=_digit(reply), endpos=reply.endpos)

    async def get_data(self, filename: str, timeout_ms: int, max_digits: int) -> DigitsResult:
        reply = await self.command("GET DATA", filename, timeout_ms, max_digits)
        if reply.result == "-1":
            await self._failed(reply, f"GET DATA {filename}")
        return DigitsResult(digits=reply.result, timed_out=reply.data == "timeout")

    async def wait_for_digit(self, timeout_ms: int) -> str | None:
        reply = await self.command("WAIT FOR DIGIT", timeout_ms)
        if reply.result == "-1":
            await self._failed(reply, "WAIT FOR DIGIT")
        return _digit(reply)

    async def verbose(self, message: str, level: int = 1) -> None:
        await self.command("VERBOSE", message, level)

    async def exec_app(self, application: str, options: str = "") -> AGIReply:
        """EXEC an application. ``options`` reach the application as written: commas
        separate its arguments, so never put caller-controlled text there."""
        if options:
            return await self.command("EXEC", application, options)
        return await self.command("EXEC", application)

    async def guard(self, seconds: float) -> None:
        """Move the dialplan's limit on this AGI (``TIMEOUT(absolute)``, see
        asterisk_conf/extensions.conf) ``seconds`` from now: a callcenter that stops
        answering leaves the caller that long at most, then Asterisk carries on alone."""
        await self.command("SET VARIABLE", "TIMEOUT(absolute)", max(1, math.ceil(seconds)))

    async def hangup(self) -> None:
        await self.command("HANGUP")
        self.hung_up = True


def _digit(reply: AGIReply) -> str | None:
    """STREAM FILE / WAIT FOR DIGIT report a pressed digit as its ASCII code; 0 = none."""
    try:
        code = int(reply.result)
    except ValueError:
        raise AGIError(f"not a digit code: {reply.raw!r}", reply) from None
    return chr(code) if code > 0 else None

