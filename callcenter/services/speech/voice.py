"""Is the caller speaking? A frame-by-frame voice detector for 8 kHz phone audio.

Vosk's own end-of-utterance rule waits 0.5 s of trailing silence (model.conf) and, with a
grammar and no garbage word in the model, it maps noise onto a menu word. So the speech
step decides for itself when the caller has spoken and stopped: a 20 ms frame is *voiced*
when it is loud enough and periodic at a voice pitch (80–400 Hz). The autocorrelation is
taken on the first difference of the signal, which whitens hiss and rumble: white, pink
and brown noise are not voiced however loud, while vowels are. Noise alone therefore
never starts an answer; a hum is voiced but matches no word.
"""

from __future__ import annotations

import numpy as np

from callcenter.services.speech.model import FRAME_BYTES, SAMPLE_RATE

MIN_RMS = 300.0                   # about -40 dBFS: quieter is silence on a phone line
MIN_LAG = SAMPLE_RATE // 400      # 400 Hz
MAX_LAG = SAMPLE_RATE // 80       # 80 Hz
VOICED_PEAK = 0.45                # normalised autocorrelation peak of a voiced frame


class VoiceDetector:
    """Feed 20 ms frames in order; ``voiced()`` says whether the last one was voice."""

    def __init__(self) -> None:
        self._previous = np.zeros(FRAME_BYTES // 2)

    def voiced(self, frame: bytes) -> bool:
        current = np.frombuffer(frame[: len(frame) - len(frame) % 2], dtype="<i2").astype(np.float64)
        if current.size == 0:
            return False
        window = np.concatenate([self._previous, current])
        self._previous = current
        if np.sqrt(np.mean(current * current)) < MIN_RMS:
            return False
        diff = np.diff(window)
        diff -= diff.mean()
        energy = float(np.dot(diff, diff))
        if energy <= 0.0 or diff.size <= MAX_LAG:
            return False
        lags = np.array([np.dot(diff[:-lag], diff[lag:]) for lag in range(MIN_LAG, MAX_LAG + 1)])
        return float(lags.max()) / energy >= VOICED_PEAK
