"""Transcribe one side of a recording: Vosk over the whole file, with word timings.

Each side (the agent's, the caller's) is its own file and its own transcript: two voices
mixed into one file are transcribed worse, and the checks need to know who said what.
MixMonitor's ``r()``/``t()`` options write the sides next to the mixed file
(``side_files_for``, the names the dialplan gives them).
"""

from __future__ import annotations

import json
import wave
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from callcenter.services.calls.recording_names import side_files
from callcenter.services.speech.model import SpeechModel

AGENT, CALLER = "agent", "caller"
SIDES = (AGENT, CALLER)
CHUNK_S = 0.5


class TranscriptionError(Exception):
    """A side file that cannot be transcribed; the message names the file and why."""


@dataclass(frozen=True)
class SideText:
    side: str
    source: Path
    duration_s: float
    lines: list[dict]          # [{"start", "end", "text", "words": [[word, start, end, conf], ...]}]


def side_files_for(recording_file: str, recordings_dir: Path) -> dict[str, Path]:
    """The two side files of a call recorded as ``recording_file`` (relative to
    ``recordings_dir``), named as the dialplan names them (services/calls/recording_names:
    MixMonitor's ``r()`` file is the caller alone, its ``t()`` file the agent alone)."""
    if not recording_file:
        return {}
    caller, agent = side_files(recording_file)
    return {AGENT: recordings_dir / agent, CALLER: recordings_dir / caller}


# Phrase spotting forces every sound onto some phrase of its small vocabulary; what it
# heard with less confidence than this was not one of them.
SPOTTING_MIN_CONF = 0.9


def transcribe_file(model: SpeechModel, side: str, path: Path, *, vocabulary: list[str] | None = None,
                    progress: Callable[[float], None] | None = None) -> SideText:
    """The utterances of ``path`` (a mono 16-bit WAV at any rate Vosk can resample).

    ``vocabulary``: recognise only these words and phrases (phrase spotting, e.g. the
    service-language lists; words below SPOTTING_MIN_CONF are dropped), else free
    dictation. ``progress`` is called with the
    seconds of audio each chunk held (a progress bar adds them up)."""
    import vosk

    if not path.is_file():
        raise TranscriptionError(f"{path}: no such recording")
    try:
        audio = wave.open(str(path), "rb")  # noqa: SIM115 — closed by the with below
    except (wave.Error, EOFError) as exc:
        raise TranscriptionError(f"{path}: not a WAV file ({exc})") from None
    with audio:
        if audio.getnchannels() != 1 or audio.getsampwidth() != 2:
            raise TranscriptionError(f"{path}: needs mono 16-bit PCM, found {audio.getnchannels()} channel(s) "
                                     f"of {audio.getsampwidth() * 8}-bit")
        rate = audio.getframerate()
        min_conf = SPOTTING_MIN_CONF if vocabulary else 0.0
        if vocabulary:
            recognizer = vosk.KaldiRecognizer(model.model, rate, json.dumps(vocabulary, ensure_ascii=False))
        else:
            recognizer = vosk.KaldiRecognizer(model.model, rate)
        recognizer.SetWords(True)
        lines: list[dict] = []
        chunk = int(rate * CHUNK_S)
        done = 0
        while True:
            data = audio.readframes(chunk)
            if not data:
                break
            done += len(data) // 2
            if recognizer.AcceptWaveform(data):
                _add_line(lines, recognizer.Result(), min_conf)
            if progress is not None:
                progress(len(data) / 2 / rate)
        _add_line(lines, recognizer.FinalResult(), min_conf)
        return SideText(side=side, source=path, duration_s=round(done / rate, 3), lines=lines)


def _add_line(lines: list[dict], result_json: str, min_conf: float) -> None:
    result = json.loads(result_json)
    words = [[w["word"], round(float(w["start"]), 2), round(float(w["end"]), 2), round(float(w.get("conf", 1.0)), 2)]
             for w in result.get("result", []) if float(w.get("conf", 1.0)) >= min_conf]
    if not words:
        return
    text = " ".join(w[0] for w in words) if min_conf else result.get("text", "")
    lines.append({"start": words[0][1], "end": words[-1][2], "text": text, "words": words})
