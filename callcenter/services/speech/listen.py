"""One spoken answer to a menu: audio in, a decision out as soon as the caller stops.

``Listener.feed(frame)`` takes the caller's audio 20 ms at a time (8 kHz 16-bit mono, as
Asterisk's AudioSocket sends it) and passes it straight to ``KaldiRecognizer(model, 8000,
grammar)``. It returns a ``Heard`` once the answer is decided:

* the caller spoke, then no voice for ``end_silence_ms`` → the recognizer's final result,
  matched against the grammar: ``match`` (a choice) or ``nomatch``;
* the caller is still speaking after ``max_utterance_s`` → decided on what was said;
* no voice at all within the listening time (``give_up()`` from the caller) → ``silence``;
* the recognizer fails → ``error``.
Everything but ``match`` sends the caller to the keys.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field

from callcenter.services.speech.grammar import Grammar
from callcenter.services.speech.model import FRAME_BYTES, SAMPLE_RATE, SpeechModel
from callcenter.services.speech.voice import VoiceDetector

log = logging.getLogger(__name__)

FRAME_MS = FRAME_BYTES * 1000 // (2 * SAMPLE_RATE)
# Voiced frames in a row that count as the start of an answer (a click or a cough is
# shorter).
START_FRAMES = 3
# A grammar without a garbage word forces any voiced sound onto one of its phrases; Vosk's
# confidence tells them apart (menu words said clearly: 1.0; a hum forced onto a word:
# 0.4–0.7 on the Korean model). Words heard with less are not an answer.
MIN_WORD_CONF = 0.8

MATCH, NOMATCH, SILENCE, ERROR = "match", "nomatch", "silence", "error"
DTMF = "dtmf"             # the caller pressed a key while the step listened


@dataclass
class Heard:
    outcome: str                     # match | nomatch | silence | error | dtmf
    choice: str | None = None        # the menu key chosen by voice (or pressed: dtmf)
    phrase: str = ""                 # the grammar phrase heard
    text: str = ""                   # what the recognizer returned
    speech_ms: int = 0               # audio from the start of the answer to its end
    decided_at: float = field(default_factory=time.monotonic)

    @property
    def path_word(self) -> str:
        """How the IVR path records it: ``speech:2`` or ``speech:nomatch``."""
        if self.outcome == MATCH:
            return f"speech:{self.choice}"
        if self.outcome == DTMF:
            return f"key:{self.choice}"
        return f"speech:{self.outcome}"


class Listener:
    def __init__(self, model: SpeechModel, grammar: Grammar, *, end_silence_ms: int = 200,
                 max_utterance_s: float = 6.0, min_word_conf: float = MIN_WORD_CONF) -> None:
        import vosk

        self.grammar = grammar
        self._recognizer = vosk.KaldiRecognizer(model.model, SAMPLE_RATE, grammar.vosk_json())
        self._recognizer.SetWords(True)
        self._min_conf = min_word_conf
        self._voice = VoiceDetector()
        self._end_frames = max(1, end_silence_ms // FRAME_MS)
        self._max_frames = int(max_utterance_s * 1000 / FRAME_MS)
        self._run = 0                 # voiced frames in a row before the answer started
        self._started = False
        self._quiet = 0               # frames without voice since the last voiced one
        self._frames_in_answer = 0
        self.heard: Heard | None = None

    @property
    def speaking(self) -> bool:
        """The caller has started an answer (the listening time no longer runs out)."""
        return self._started

    def feed(self, frame: bytes) -> Heard | None:
        if self.heard is not None:
            return self.heard
        try:
            self._recognizer.AcceptWaveform(frame)
        except Exception as exc:     # noqa: BLE001 — a recognizer failure must not cost the call
            log.error("speech: the recognizer failed (%s); the caller gets the keys", exc)
            return self._decide(Heard(ERROR, text=str(exc)))
        voiced = self._voice.voiced(frame)
        if not self._started:
            self._run = self._run + 1 if voiced else 0
            if self._run >= START_FRAMES:
                self._started = True
                self._frames_in_answer = self._run
            return None
        self._frames_in_answer += 1
        self._quiet = 0 if voiced else self._quiet + 1
        if self._quiet >= self._end_frames or self._frames_in_answer >= self._max_frames:
            return self._final()
        return None

    def give_up(self) -> Heard:
        """The listening time is over: decide on what there is (silence if nothing)."""
        if self.heard is not None:
            return self.heard
        if not self._started:
            return self._decide(Heard(SILENCE))
        return self._final()

    def _final(self) -> Heard:
        try:
            result = json.loads(self._recognizer.FinalResult())
        except Exception as exc:     # noqa: BLE001
            log.error("speech: the recognizer failed (%s); the caller gets the keys", exc)
            return self._decide(Heard(ERROR, text=str(exc)))
        speech_ms = (self._frames_in_answer - self._quiet) * FRAME_MS
        text = result.get("text", "")
        sure = " ".join(w["word"] for w in result.get("result", []) if w.get("conf", 1.0) >= self._min_conf)
        found = self.grammar.match(sure)
        if found is None:
            return self._decide(Heard(NOMATCH, text=text, speech_ms=speech_ms))
        choice, phrase = found
        return self._decide(Heard(MATCH, choice=choice, phrase=phrase, text=text, speech_ms=speech_ms))

    def _decide(self, heard: Heard) -> Heard:
        self.heard = heard
        return heard


def recognise_pcm(model: SpeechModel, grammar: Grammar, pcm: bytes, **options) -> Heard:
    """An answer from a whole recording (tests, benchmarks, the RECORD FILE fallback)."""
    listener = Listener(model, grammar, **options)
    for start in range(0, len(pcm), FRAME_BYTES):
        heard = listener.feed(pcm[start:start + FRAME_BYTES])
        if heard is not None:
            return heard
    return listener.give_up()
