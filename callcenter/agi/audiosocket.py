"""The caller's voice during a speech step: Asterisk's AudioSocket, streaming to us.

The flow runner sends ``EXEC AudioSocket <uuid>,<host>:<port>``; Asterisk connects to
this listener, sends the uuid, then the caller's audio as it arrives (8 kHz 16-bit slin,
20 ms per message) and any key the caller presses. The listener feeds the audio to the
recognizer (``services/speech/listen.py``) and, the moment the answer is decided (the
caller stopped speaking, pressed a key, or said nothing for the listening time), hands
the decision to the waiting runner and sends AudioSocket's hangup message: the
application returns 0 and the AGI carries on. Nothing waits for a silence timer on
Asterisk's side, so the decision comes as speech ends.

The wire format (res_audiosocket.c): messages of ``kind`` (1 byte), ``length`` (2 bytes,
big-endian), ``payload``. Kinds: 0x00 hangup (we send it to end the application),
0x01 the uuid (16 bytes, first), 0x03 a DTMF digit (1 ASCII byte), 0x10 slin audio,
0xff an error.

One listener per FastAGI process (``running_listener()``); worker N of
``agi --workers`` listens on ``speech_audiosocket_port + N``, and each runner names its
own process's port in the EXEC, so the audio always reaches the process that waits for it.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import time
import uuid as uuidlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from callcenter.agi.channel import AGIChannel, AGIError
from callcenter.config import Settings
from callcenter.services.speech.grammar import Grammar
from callcenter.services.speech.listen import DTMF, ERROR, Heard, Listener
from callcenter.services.speech.model import SpeechModel, speech_model

log = logging.getLogger(__name__)

KIND_HANGUP, KIND_UUID, KIND_DTMF, KIND_AUDIO, KIND_ERROR = 0x00, 0x01, 0x03, 0x10, 0xFF
HEADER = struct.Struct(">BH")
HANGUP_MESSAGE = HEADER.pack(KIND_HANGUP, 0)
# Asterisk must connect within this long of the EXEC, or the step is a recognizer error.
CONNECT_WAIT_S = 3.0
# After our hangup message, how long Asterisk has to close its end.
CLOSE_WAIT_S = 1.0
# AudioSocket() gives up after 2 s without traffic either way (MAX_WAIT_TIMEOUT_MSEC), and
# a channel sends no frames while the caller's side is silent (DTX, a Local channel in
# Wait()): a silent 20 ms frame to the caller this often keeps it listening.
KEEPALIVE_S = 0.5
SILENT_FRAME = bytes(320)
# Recognizer threads: Vosk releases the GIL, so answers being decoded do not stall the
# event loop that serves every other call of this process.
RECOGNIZER_THREADS = 4


def message(kind: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


@dataclass
class Expected:
    """A speech step waiting for its audio."""

    listener: Listener
    listen_s: float                  # how long the caller has to start speaking
    result: asyncio.Future
    connected: asyncio.Event = field(default_factory=asyncio.Event)
    end_of_audio: float = 0.0        # monotonic time the last audio frame arrived


class SpeechListener:
    def __init__(self, settings: Settings, model: SpeechModel, *, host: str | None = None,
                 port: int | None = None) -> None:
        self.settings = settings
        self.model = model
        self.host = settings.speech_audiosocket_host if host is None else host
        self.port = settings.speech_audiosocket_port if port is None else port
        self._server: asyncio.Server | None = None
        self._expected: dict[str, Expected] = {}
        self._connections: set[asyncio.Task] = set()
        self._pool = ThreadPoolExecutor(max_workers=RECOGNIZER_THREADS, thread_name_prefix="speech")
        self.stats: dict[str, int] = {}

    # -- life ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connection, self.host, self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("speech: AudioSocket listener on %s:%d (model %s, language %s)", self.host, self.port,
                 self.model.path, self.model.language)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._connections:        # steps in progress end on their own (or at listen_s)
            await asyncio.wait(self._connections, timeout=CLOSE_WAIT_S + self.settings.speech_max_utterance_s)
        if self._server is not None:
            await self._server.wait_closed()
        for expected in self._expected.values():
            if not expected.result.done():
                expected.result.set_result(Heard(ERROR, text="listener stopped"))
        self._pool.shutdown(wait=False, cancel_futures=True)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    # -- the runner's side ----------------------------------------------------------------
    def expect(self, listener: Listener, listen_s: float) -> tuple[str, Expected]:
        """Register a step; the uuid to pass to ``AudioSocket``."""
        key = str(uuidlib.uuid4())
        expected = Expected(listener, listen_s, asyncio.get_running_loop().create_future())
        self._expected[key] = expected
        return key, expected

    def decided(self, key: str) -> bool:
        """The step has an answer that is not an error (a late -1 from AudioSocket() then
        changes nothing)."""
        expected = self._expected.get(key)
        return bool(expected and expected.result.done() and not expected.result.cancelled()
                    and expected.result.result().outcome != ERROR)

    def forget(self, key: str) -> Heard:
        """The step is over on the AGI side: its decision, or an error when none came."""
        expected = self._expected.pop(key, None)
        if expected is None or not expected.result.done():
            if expected is not None:
                expected.result.cancel()
            return Heard(ERROR, text="no audio reached the listener")
        return expected.result.result()

    # -- Asterisk's side --------------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)
        expected: Expected | None = None
        try:
            kind, payload = await asyncio.wait_for(_read_message(reader), CONNECT_WAIT_S)
            if kind != KIND_UUID or len(payload) != 16:
                log.warning("speech: AudioSocket peer sent kind 0x%02x before its uuid; closing", kind)
                return
            key = str(uuidlib.UUID(bytes=payload))
            expected = self._expected.get(key)
            if expected is None or expected.result.done():
                log.warning("speech: AudioSocket connection for unknown step %s; closing", key)
                return
            expected.connected.set()
            keepalive = asyncio.ensure_future(_keep_alive(writer))
            try:
                heard = await self._listen(reader, expected)
            finally:
                keepalive.cancel()
            if not expected.result.done():
                expected.result.set_result(heard)
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError) as exc:
            if expected is not None and not expected.result.done():
                expected.result.set_result(Heard(ERROR, text=f"audio stream ended: {exc!r}"))
        except Exception as exc:     # a speech failure must never cost the call
            log.exception("speech: AudioSocket connection failed")
            if expected is not None and not expected.result.done():
                expected.result.set_result(Heard(ERROR, text=str(exc)))
        finally:
            await _hang_up(reader, writer)

    async def _listen(self, reader: asyncio.StreamReader, expected: Expected) -> Heard:
        loop = asyncio.get_running_loop()
        listener = expected.listener
        queue: asyncio.Queue[tuple[int | None, bytes]] = asyncio.Queue()
        reading = asyncio.ensure_future(_pump(reader, queue, expected))
        deadline = loop.time() + expected.listen_s
        try:
            while True:
                # Before the caller speaks, the listening time runs; once an answer has
                # started, the recognizer's own limit (max_utterance_s) ends it, and this
                # wait only guards against audio that stops coming.
                timeout = self.settings.speech_max_utterance_s if listener.speaking \
                    else max(0.0, deadline - loop.time())
                try:
                    batch = [await asyncio.wait_for(queue.get(), timeout)]
                except TimeoutError:
                    return await loop.run_in_executor(self._pool, listener.give_up)
                while not queue.empty():
                    batch.append(queue.get_nowait())
                frames = []
                for kind, payload in batch:
                    if kind == KIND_AUDIO:
                        frames.append(payload)
                    elif kind == KIND_DTMF and payload:
                        return Heard(DTMF, choice=payload[:1].decode("ascii", "replace"))
                    elif kind == KIND_ERROR:
                        return Heard(ERROR, text=f"AudioSocket error 0x{payload.hex()}")
                    elif kind in (KIND_HANGUP, None):
                        raise ConnectionError("the channel hung up")
                # The frames that came while the last batch was decoded go together: the
                # decode keeps up with the audio however busy the machine is.
                heard = await loop.run_in_executor(self._pool, _feed_all, listener, frames)
                if heard is not None:
                    return heard
        finally:
            reading.cancel()
            # The reader must be free before _hang_up reads Asterisk's close.
            await asyncio.wait([reading])


async def _hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Send the hangup message (AudioSocket() returns 0: the AGI goes on), then let Asterisk
    close first: closing with its frames still arriving would reset the connection, and
    the reset can overtake the hangup message."""
    try:
        writer.write(HANGUP_MESSAGE)
        await writer.drain()
        async with asyncio.timeout(CLOSE_WAIT_S):
            while await reader.read(65536):
                pass
    except (ConnectionError, TimeoutError):
        pass
    finally:
        writer.close()


async def _keep_alive(writer: asyncio.StreamWriter) -> None:
    while True:
        await asyncio.sleep(KEEPALIVE_S)
        writer.write(message(KIND_AUDIO, SILENT_FRAME))
        await writer.drain()


async def _pump(reader: asyncio.StreamReader, queue: asyncio.Queue, expected: Expected) -> None:
    try:
        while True:
            kind, payload = await _read_message(reader)
            if kind == KIND_AUDIO:
                expected.end_of_audio = time.monotonic()
            queue.put_nowait((kind, payload))
    except (asyncio.IncompleteReadError, ConnectionError):
        queue.put_nowait((None, b""))


def _feed_all(listener: Listener, frames: list[bytes]) -> Heard | None:
    for frame in frames:
        heard = listener.feed(frame)
        if heard is not None:
            return heard
    return None


async def _read_message(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    kind, length = HEADER.unpack(await reader.readexactly(HEADER.size))
    payload = await reader.readexactly(length) if length else b""
    return kind, payload


# -- one per process ----------------------------------------------------------------------------
_running: SpeechListener | None = None


def running_listener() -> SpeechListener | None:
    """This process's listener, None when speech is off (speech steps are key steps)."""
    return _running


async def start_speech(settings: Settings, *, port: int | None = None) -> SpeechListener | None:
    """Load the model (once per process) and start the listener; None when speech is off
    (the reason was logged as one line)."""
    global _running
    model = await asyncio.get_running_loop().run_in_executor(None, speech_model, settings)
    if model is None:
        return None
    listener = SpeechListener(settings, model, port=port)
    try:
        await listener.start()
    except OSError as exc:
        log.error("speech off: the AudioSocket listener cannot listen on %s (%s); "
                  "speech steps in IVR flows work as key steps", listener.address, exc)
        return None
    _running = listener
    return listener


async def stop_speech(listener: SpeechListener | None) -> None:
    global _running
    if listener is None:
        return
    await listener.stop()
    if _running is listener:
        _running = None


# -- the speech step, as the flow runner (and any route: a survey's 满意/一般/不满意) uses it ----------
async def listen_for(channel: AGIChannel, phrases: dict[str, dict[str, list[str] | tuple[str, ...]]],
                     listen_s: float) -> Heard | None:
    """One spoken answer among ``phrases`` (language → choice → phrases, the first of each
    choice its name), or None when this process has no speech or ``phrases`` has nothing
    in the model's language: then ask with keys. Play the question first (STREAM FILE)."""
    listener = running_listener()
    if listener is None:
        return None
    language = listener.model.language
    choices = phrases.get(language) or phrases.get({"zh": "cmn", "cmn": "zh"}.get(language.split("-")[0], ""))
    if not choices:
        return None
    return await hear(channel, listener, Grammar.from_phrases(dict(choices)), listen_s)


async def hear(channel: AGIChannel, listener: SpeechListener, grammar: Grammar, listen_s: float) -> Heard:
    """Listen to the caller through ``AudioSocket`` for one answer from ``grammar``.

    Never raises for a speech problem: whatever goes wrong (the application missing from
    Asterisk, no connection, a recognizer failure) is a ``Heard`` with outcome ``error``,
    which sends the caller to the keys. A hangup raises AGIHangup like any command.
    """
    settings = listener.settings
    try:
        recognizer = Listener(listener.model, grammar, end_silence_ms=settings.speech_end_silence_ms,
                              max_utterance_s=settings.speech_max_utterance_s)
    except Exception as exc:     # noqa: BLE001 — a broken grammar or model must not cost the call
        log.error("speech: no recognizer for this menu (%s); the caller gets the keys", exc)
        return Heard(ERROR, text=str(exc))
    key, _ = listener.expect(recognizer, listen_s)
    try:
        reply = await channel.exec_app("AudioSocket", f"{key},{listener.address}")
        if reply.result == "-2":
            log.error("speech: Asterisk has no AudioSocket application (load app_audiosocket.so and "
                      "res_audiosocket.so); the caller gets the keys")
        elif reply.result == "-1" and not listener.decided(key):
            # The application failed: a hangup (raises) or no connection to us (a key step).
            try:
                await channel._failed(reply, "AudioSocket")
            except AGIError as exc:
                log.error("speech: AudioSocket to %s failed (%s); the caller gets the keys", listener.address, exc)
    finally:
        heard = listener.forget(key)
    return heard
