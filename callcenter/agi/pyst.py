"""Classic (stdin/stdout) AGI through pyst2 0.5.1, with its Python 3 faults fixed.

``agi_scripts/*.py`` call :func:`main`, which reads the AGI header, finds the route
in the same registry the FastAGI server uses and runs the same handler under the
same failure policy (``registry.run_route``), over a :class:`PystChannel`.

:class:`SafeAGI` is pyst2's ``asterisk.agi.AGI`` (so site scripts written against
pyst2's API keep working) with every known fault replaced rather than inherited:

* ``_quote`` did not escape ``"`` or ``\\`` and several methods sent caller data
  unquoted: here every word is quoted by ``callcenter.agi.protocol`` and newlines, CR
  and NUL can never reach Asterisk inside a command;
* the ``HANGUP`` line and EOF raised a bare ``ValueError``: ``HANGUP`` now marks the
  channel hung up, EOF or a broken pipe raise :class:`AGIConnectionLost`;
* ``511`` (dead channel) became ``AGIUnknownError``: it is a hangup;
* every header line, caller ID included, was logged to stderr: nothing is;
* ``AGI()`` installed its SIGHUP handler unconditionally (fails outside the main
  thread): here only in the main thread; classic AGI gets SIGHUP when the caller hangs
  up, and it marks the channel hung up instead of killing the script;
* ``asterisk.fastagi`` (Python 2 ``SocketServer``) is never imported.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, BinaryIO

from asterisk import agi as pyst_agi

from callcenter.agi import protocol
from callcenter.agi.channel import AGIChannel, AGIConnectionLost
from callcenter.agi.context import AGIContext
from callcenter.agi.dbwork import DbRunner, RouteBudgetExceeded
from callcenter.agi.handlers import default_registry
from callcenter.agi.protocol import AGIReply, AGIRequest
from callcenter.agi.registry import FAILED, Registry, run_route

log = logging.getLogger("callcenter.agi.script")


class AGIDeadChannel(pyst_agi.AGIHangup):
    """pyst2-style exception for a 511 reply (command refused on a dead channel)."""


class AGIConnectionClosed(pyst_agi.AGIHangup):
    """pyst2-style exception for EOF / broken pipe on stdin/stdout."""


class _Word(str):
    """A command word already quoted by ``SafeAGI._quote``."""


class SafeAGI(pyst_agi.AGI):
    """pyst2's AGI over binary stdin/stdout with the faults listed above fixed."""

    def __init__(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None,
                 stderr: Any = None) -> None:
        # pyst2's __init__ logs argv and the header and installs SIGHUP blindly; not called.
        self.stdin = stdin if stdin is not None else sys.stdin.buffer
        self.stdout = stdout if stdout is not None else sys.stdout.buffer
        self.stderr = stderr if stderr is not None else sys.stderr
        self._got_sighup = False
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGHUP, self._handle_sighup)
        self.request = self._read_header()
        self.env = {f"agi_{key}": value for key, value in self.request.env.items()}

    # --- reading ---------------------------------------------------------------------
    def _read_line(self) -> str:
        try:
            raw = self.stdin.readline(protocol.MAX_LINE_BYTES + 1)
        except OSError as exc:
            raise AGIConnectionClosed(f"stdin: {exc}") from exc
        if not raw:
            raise AGIConnectionClosed("EOF from Asterisk")
        if not raw.endswith(b"\n"):
            if len(raw) > protocol.MAX_LINE_BYTES:
                raise protocol.AGIProtocolError(f"line longer than {protocol.MAX_LINE_BYTES} bytes")
            raise AGIConnectionClosed("EOF inside a line")
        return protocol.decode_line(raw[:-1])

    def _read_header(self) -> AGIRequest:
        parser = protocol.HeaderParser()
        while not parser.feed(self._read_line()):
            pass
        return parser.request()

    def read_reply(self) -> AGIReply:
        """The next reply; an unsolicited ``HANGUP`` line marks the hangup and is skipped."""
        assembler = protocol.ReplyAssembler()
        junk = 0
        while True:
            line = self._read_line()
            if not assembler.busy:
                if line == protocol.HANGUP_LINE:
                    self._got_sighup = True
                    continue
                if not protocol.looks_like_reply(line):
                    junk += 1
                    if junk > protocol.MAX_REPLY_LINES:
                        raise protocol.AGIProtocolError("no reply among the lines Asterisk sent")
                    continue
            text = assembler.feed(line)
            if text is not None:
                return protocol.parse_reply(text)

    # --- writing ---------------------------------------------------------------------
    def write_line(self, line: str) -> None:
        try:
            self.stdout.write(protocol.encode_command(line))
            self.stdout.flush()
        except (BrokenPipeError, ConnectionError, ValueError) as exc:
            raise AGIConnectionClosed(f"stdout: {exc}") from exc

    def _quote(self, string: Any) -> str:
        return _Word(protocol.quote(string))

    def send_command(self, command: str, *args: Any) -> None:
        # pyst2 passes some caller data unquoted; quote those too. An unquoted empty
        # argument meant "absent" to pyst2 (e.g. ``HANGUP`` with no channel): drop it.
        words = [a if isinstance(a, _Word) else protocol.quote(a) for a in args
                 if isinstance(a, _Word) or a != ""]
        line = " ".join([protocol.clean(command.strip()), *words])
        if len(line.encode("utf-8", "replace")) + 1 > protocol.MAX_COMMAND_BYTES:
            raise protocol.AGICommandTooLong(f"{command}: command too long for Asterisk")
        self.write_line(line)

    # --- pyst2's result API, on the fixed reader ----------------------------------------
    def get_result(self, stdin: Any = None) -> dict:
        reply = self.read_reply()
        if reply.code == 200:
            if reply.data == "hangup":
                raise pyst_agi.AGIResultHangup("User hungup during execution")
            if reply.result == "-1":
                raise pyst_agi.AGIAppError("Error executing application, or hangup")
            result = {"result": (reply.result, reply.data or "")}
            if reply.endpos is not None:
                result["endpos"] = (str(reply.endpos), "")
            return result
        if reply.code == 511:
            self._got_sighup = True
            raise AGIDeadChannel(reply.raw)
        if reply.code == 510:
            raise pyst_agi.AGIInvalidCommand(reply.raw)
        if reply.code == 520:
            raise pyst_agi.AGIUsageError(reply.raw + "\n")
        raise pyst_agi.AGIUnknownError(reply.code, reply.raw)


class PystChannel(AGIChannel):
    """The AGIChannel of a per-call script: blocking I/O is fine, the process serves
    exactly this one call."""

    def __init__(self, agi: SafeAGI, request: AGIRequest | None = None) -> None:
        self.agi = agi
        self.request = request if request is not None else agi.request

    @property
    def hung_up(self) -> bool:  # type: ignore[override]
        return self.agi._got_sighup

    @hung_up.setter
    def hung_up(self, value: bool) -> None:
        self.agi._got_sighup = value

    async def _exchange(self, command_line: str) -> AGIReply:
        try:
            self.agi.write_line(command_line)
            return self.agi.read_reply()
        except AGIConnectionClosed as exc:
            self.agi._got_sighup = True
            raise AGIConnectionLost(str(exc)) from exc

    async def _wait_hangup(self, timeout: float) -> bool:
        # SIGHUP comes with the -1 reply; the handler sets the flag between sleeps.
        deadline = time.monotonic() + timeout
        while not self.agi._got_sighup and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.agi._got_sighup


def thread_runner(budget_s: float) -> DbRunner:
    """run_db for a per-call script: the function runs in a daemon thread so the
    budget holds even when the database hangs (the process exits soon anyway)."""

    async def run(fn: Callable[..., Any], args: tuple, kw: dict) -> Any:
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["value"] = fn(*args, **kw)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller
                box["error"] = exc

        worker = threading.Thread(target=target, name="agi-db", daemon=True)
        worker.start()
        worker.join(budget_s)
        if worker.is_alive():
            raise RouteBudgetExceeded(f"{getattr(fn, '__qualname__', fn)} took longer than {budget_s:g} s")
        if "error" in box:
            raise box["error"]
        return box.get("value")

    return run


def generic_request(request: AGIRequest) -> AGIRequest:
    """``AGI(callcenter_agi.py,route_call,x)``: the first argument names the route; the
    handler sees the remaining arguments, exactly as with ``agi://host/route_call,x``."""
    env = {k: v for k, v in request.env.items() if not k.startswith("arg_")}
    for n, value in enumerate(request.args[1:], start=1):
        env[f"arg_{n}"] = value
    return AGIRequest(env=env, route=request.args[0] if request.args else "",
                      args=request.args[1:], anomalies=request.anomalies)


def main(route: str | None = None, *, registry: Registry | None = None, settings=None,
         stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> int:
    """Serve one classic AGI call. ``route`` fixed by the script, or (None) taken from
    the first AGI argument. Always exits 0: the dialplan reads the outcome from the
    channel variables (and AGISTATUS), never from a traceback."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                            format="callcenter-agi %(levelname)s %(name)s: %(message)s")
    try:
        agi = SafeAGI(stdin=stdin, stdout=stdout)
    except (AGIConnectionClosed, protocol.AGIProtocolError) as exc:
        log.error("no usable AGI header on stdin: %s", exc)
        return 0
    request = agi.request
    if route is None:
        request = generic_request(request)
    else:
        request.route = route
    channel = PystChannel(agi, request)
    uniqueid = request.env.get("uniqueid", "")
    if request.anomalies:
        log.warning("[%s] AGI header carries forged or broken lines: %s",
                    uniqueid or "-", "; ".join(request.anomalies[:6]))
    if settings is None:
        from callcenter.config import get_settings

        settings = get_settings()
    entry = (registry if registry is not None else default_registry()).get(request.route)
    if entry is None:
        log.error("[%s] no AGI route named %r", uniqueid or "-", request.route)
        return 0
    ctx = AGIContext(settings, uniqueid, thread_runner(settings.agi_route_budget_s), entry.name)
    outcome = asyncio.run(run_route(entry, channel, ctx))
    if outcome == FAILED:
        log.error("[%s] route %s failed without a fallback", uniqueid or "-", entry.name)
    _finish()
    return 0


def _finish() -> None:
    """Close stdout (Asterisk then waits for our exit). A database thread stuck past
    its budget must not keep the call's process alive."""
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        pass
    if any(t.name == "agi-db" and t.is_alive() for t in threading.enumerate()):
        logging.shutdown()
        os._exit(0)
