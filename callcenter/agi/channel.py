"""The AGI channel as handlers see it, whatever carries it (FastAGI socket or stdin/stdout).

Handlers in ``callcenter.agi.handlers`` are ``async def handler(channel, ctx)`` and only
use this interface, so the FastAGI server and the per-call scripts in ``agi_scripts/``
run exactly the same code. Concrete channels implement ``_exchange``; everything
else (quoting, reply parsing, error mapping) lives here and in ``protocol``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field


class AGIError(Exception):
    """Asterisk refused a command (510 unknown, 520 usage) or answered nonsense."""


class AGIHangup(Exception):
    """The channel is gone: the caller hung up (HANGUP line, SIGHUP, 511, result=-1 on hangup)."""


class AGIConnectionLost(AGIHangup):
    """The transport closed (EOF, reset) or stalled past the command timeout."""


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


@dataclass(frozen=True)
class StreamResult:
    digit: str | None                # the escape digit pressed, if any
    endpos: int | None


@dataclass(frozen=True)
class DigitsResult:
    digits: str                      # what the caller typed (may be "")
    timed_out: bool                  # GET DATA returned "(timeout)"


@dataclass
class AGIRequest:
    """The AGI header Asterisk sends first (``agi_*`` lines) plus the parsed route."""

    env: dict[str, str] = field(default_factory=dict)   # keys without the agi_ prefix
    route: str = ""                                      # e.g. "route_call" (no query string)
    query: dict[str, str] = field(default_factory=dict)  # parsed ?a=b of agi_network_script
    args: list[str] = field(default_factory=list)        # agi_arg_1..N in order

    def get(self, key: str, default: str = "") -> str:
        value = self.env.get(key, default)
        return default if value == "unknown" else value


class AGIChannel(abc.ABC):
    """Command helpers built on one primitive: send a command line, read its reply."""

    request: AGIRequest
    hung_up: bool = False

    @abc.abstractmethod
    async def _exchange(self, command_line: str) -> AGIReply:
        """Send one already-quoted command line; return the parsed reply.

        Implementations raise AGIHangup / AGIConnectionLost when the channel or the
        transport is gone, and set ``self.hung_up`` when Asterisk announced a hangup.
        """

    async def command(self, *words: str) -> AGIReply:
        """Send a command built from words; every word after the verb is quoted safely."""
        raise NotImplementedError  # implemented with callcenter.agi.protocol

    # Convenience wrappers (see PROTOCOL-NOTES for the reply shapes each parses).
    async def answer(self) -> None: raise NotImplementedError
    async def get_variable(self, name: str) -> str | None: raise NotImplementedError
    async def set_variable(self, name: str, value: str) -> None: raise NotImplementedError
    async def stream_file(self, filename: str, escape_digits: str = "") -> StreamResult: raise NotImplementedError
    async def get_data(self, filename: str, timeout_ms: int, max_digits: int) -> DigitsResult: raise NotImplementedError
    async def wait_for_digit(self, timeout_ms: int) -> str | None: raise NotImplementedError
    async def verbose(self, message: str, level: int = 1) -> None: raise NotImplementedError
    async def exec_app(self, application: str, options: str = "") -> AGIReply: raise NotImplementedError
    async def hangup(self) -> None: raise NotImplementedError
