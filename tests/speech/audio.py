"""Real audio for the speech tests: Korean words spoken by espeak-ng, made 8 kHz 16-bit
mono with sox (what Asterisk sends), plus silence and noise from sox. Nothing is faked:
the recognizer hears these bytes."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import wave
from pathlib import Path

from callcenter.services.speech.model import SAMPLE_RATE

# espeak-ng's Korean voice at 100 words/min: slower speech is what the small Korean model
# recognises reliably from a synthetic voice.
VOICE = ("-v", "ko", "-s", "100")


def tools_missing() -> str | None:
    missing = [tool for tool in ("espeak-ng", "sox") if shutil.which(tool) is None]
    return f"needs {', '.join(missing)} (apt-get install espeak-ng sox)" if missing else None


def _sox_to_pcm(args: list[str], out: Path) -> bytes:
    subprocess.run(["sox", *args, "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer",
                    "-t", "raw", str(out)], check=True, capture_output=True)
    return out.read_bytes()


def spoken(text: str, directory: Path, *, lead_s: float = 0.3, tail_s: float = 0.0) -> bytes:
    """``text`` spoken in Korean as raw 8 kHz slin, trailing silence trimmed, with
    ``lead_s``/``tail_s`` of digital silence around it."""
    directory.mkdir(parents=True, exist_ok=True)
    stem = hashlib.sha1(f"{text}|{lead_s}|{tail_s}".encode()).hexdigest()[:16]
    out = directory / f"{stem}.raw"
    if out.exists():
        return out.read_bytes()
    wav = directory / f"{stem}-espeak.wav"
    subprocess.run(["espeak-ng", *VOICE, "-w", str(wav), text], check=True, capture_output=True)
    # reverse + silence + reverse trims the trailing silence espeak leaves after the word,
    # so "end of speech" is the end of the audio before the tail added here.
    subprocess.run(["sox", str(wav), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer",
                    "-t", "raw", str(out), "reverse", "silence", "1", "0.01", "0.1%", "reverse",
                    "pad", str(lead_s), str(tail_s)], check=True, capture_output=True)
    return out.read_bytes()


def silence(seconds: float) -> bytes:
    return b"\x00\x00" * int(SAMPLE_RATE * seconds)


def noise(kind: str, seconds: float, directory: Path, volume: float = 0.3) -> bytes:
    """sox's whitenoise / pinknoise / brownnoise, or ``sine`` (a 300 Hz hum)."""
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / f"{kind}-{seconds}-{volume}.raw"
    if out.exists():
        return out.read_bytes()
    synth = ["sine", "300"] if kind == "sine" else [kind]
    subprocess.run(["sox", "-n", "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16", "-e", "signed-integer",
                    "-t", "raw", str(out), "synth", str(seconds), *synth, "vol", str(volume)],
                   check=True, capture_output=True)
    return out.read_bytes()


def write_wav(path: Path, pcm: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm)
    return path
