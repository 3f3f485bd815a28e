"""The Vosk model: loaded once per process, shared by every recognizer in it.

A model is large (hundreds of MB mapped, seconds to load), a recognizer is small: each
speech step and each transcription makes its own ``KaldiRecognizer`` on the one model.
A missing or broken model is not an error for the caller: ``speech_model()`` answers
None, the reason is logged once as one line, and speech steps act as key steps.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from callcenter.config import Settings

log = logging.getLogger(__name__)

SAMPLE_RATE = 8000          # Asterisk's slin: 8 kHz, 16-bit signed, mono
FRAME_BYTES = 320           # 20 ms of it, the size of one AudioSocket audio message


@dataclass(frozen=True)
class SpeechModel:
    model: object               # vosk.Model
    path: Path
    language: str


@dataclass(frozen=True)
class ModelProblem:
    path: Path | None
    reason: str

    def line(self) -> str:
        """The one line shown at start-up."""
        where = f" ({self.path})" if self.path else ""
        return f"speech off: {self.reason}{where}; speech steps in IVR flows work as key steps"


_lock = threading.Lock()
_loaded: dict[tuple[str, str], SpeechModel | ModelProblem] = {}


def load_speech_model(settings: Settings) -> SpeechModel | ModelProblem:
    """The process's model for these settings, loading it on first use (thread-safe)."""
    path = settings.speech_model_path
    key = (str(path), settings.speech_language)
    with _lock:
        found = _loaded.get(key)
        if found is None:
            found = _load(path, settings.speech_language)
            if isinstance(found, ModelProblem):
                # Not configured is a choice (info); configured but unusable is a problem.
                log.log(logging.INFO if path is None else logging.WARNING, "%s", found.line())
            else:
                log.info("speech: Vosk model %s loaded (language %s)", path, settings.speech_language)
            _loaded[key] = found
        return found


def speech_model(settings: Settings) -> SpeechModel | None:
    """The model, or None when speech is off (the reason was logged once)."""
    found = load_speech_model(settings)
    return found if isinstance(found, SpeechModel) else None


def forget_models() -> None:
    """Drop the loaded models (tests that start a "fresh process")."""
    with _lock:
        _loaded.clear()


def _load(path: Path | None, language: str) -> SpeechModel | ModelProblem:
    if path is None:
        return ModelProblem(None, "no speech_model_path is set")
    if not path.is_dir():
        return ModelProblem(path, "the Vosk model directory does not exist")
    if not (path / "am" / "final.mdl").is_file() and not (path / "final.mdl").is_file():
        return ModelProblem(path, "not a Vosk model directory (no am/final.mdl)")
    try:
        import vosk
    except ImportError:
        return ModelProblem(path, "the vosk package is not installed (pip install vosk)")
    vosk.SetLogLevel(-1)        # Kaldi writes pages of LOG lines to stderr otherwise
    try:
        model = vosk.Model(str(path))
    except Exception as exc:     # noqa: BLE001 — vosk raises a bare Exception("Failed to create a model")
        return ModelProblem(path, f"the Vosk model could not be loaded ({exc})")
    return SpeechModel(model=model, path=path, language=language)
