"""Prompt audio: where Asterisk finds it, and rendering it from the flow texts.

Every prompt id is a file name in ``settings.prompts_dir``: ``main_menu.wav`` (8 kHz,
mono, 16-bit signed PCM — Asterisk's ``wav`` format, no transcoding needed for slin
channels) plus ``main_menu.sha256``, the hash of the text and voice it was rendered
from.  STREAM FILE and GET DATA get the absolute path *without extension*; Asterisk
adds the extension of whichever format it has (``.wav``, ``.sln``).  A path that does
not start with ``/`` would be looked up under ``astdatadir/sounds/<language>/``.

Rendering uses espeak-ng's Mandarin voice and sox; they are separate programs so a
site may instead drop studio recordings with the same names into prompts_dir
(a ``.wav`` without a matching ``.sha256`` is left alone unless --force).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from callcenter.config import Settings

log = logging.getLogger(__name__)

VOICE = "cmn"               # espeak-ng Mandarin
# espeak-ng's Mandarin "words per minute" are syllables: its default 175 (~2.9 syllables/s
# with pauses) drags; 210 (~3.5/s) is a careful announcer's pace, clear on a phone line.
SPEED_WPM = 210
SAMPLE_RATE = 8000
# Bump when the rendering pipeline changes, so every prompt is rendered again.
PIPELINE_VERSION = "1"
TOOLS = {"espeak-ng": "espeak-ng", "sox": "sox"}   # program → Debian/Ubuntu package


def prompt_sound(settings: Settings, prompt_id: str) -> str:
    """The name STREAM FILE plays: absolute path in prompts_dir, without extension."""
    return os.path.join(os.path.abspath(settings.prompts_dir), prompt_id)


class PromptBuildError(Exception):
    """A tool is missing or failed; the message says which and how to fix it."""


@dataclass(frozen=True)
class BuildResult:
    rendered: list[str]
    skipped: list[str]           # audio present and its text unchanged
    kept: list[str]              # audio present without a hash file (e.g. a studio recording)


def text_hash(text: str) -> str:
    material = f"{PIPELINE_VERSION}\n{VOICE}\n{SPEED_WPM}\n{SAMPLE_RATE}\n{text}"
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def check_tools() -> dict[str, str]:
    found = {tool: shutil.which(tool) for tool in TOOLS}
    missing = [tool for tool, path in found.items() if path is None]
    if missing:
        packages = " ".join(TOOLS[tool] for tool in missing)
        raise PromptBuildError(
            f"{' and '.join(missing)} not found on PATH; prompts are rendered with espeak-ng "
            f"(Mandarin voice) and sox. Install with: apt-get install {packages}")
    return {tool: path for tool, path in found.items() if path}


def build_prompts(prompts: dict[str, str], out_dir: Path, *, force: bool = False,
                  sln: bool = False, jobs: int | None = None) -> BuildResult:
    """Render every prompt whose audio is missing or whose text changed."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    todo, skipped, kept = [], [], []
    for prompt_id, text in sorted(prompts.items()):
        state = _state(out_dir, prompt_id, text, sln)
        if force or state == "stale":
            todo.append(prompt_id)
        elif state == "current":
            skipped.append(prompt_id)
        else:
            kept.append(prompt_id)
    if todo:
        tools = check_tools()
        workers = jobs or min(len(todo), os.cpu_count() or 1)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            # list() re-raises the first failure here, after the others finished.
            list(pool.map(lambda pid: _render(tools, prompts[pid], out_dir, pid, sln), todo))
    return BuildResult(rendered=todo, skipped=skipped, kept=kept)


def missing_audio(prompt_ids: Iterable[str], out_dir: Path) -> list[str]:
    return [pid for pid in sorted(prompt_ids) if not (Path(out_dir) / f"{pid}.wav").is_file()
            and not (Path(out_dir) / f"{pid}.sln").is_file()]


def _state(out_dir: Path, prompt_id: str, text: str, sln: bool) -> str:
    wav = out_dir / f"{prompt_id}.wav"
    sidecar = out_dir / f"{prompt_id}.sha256"
    if not wav.is_file() or (sln and not (out_dir / f"{prompt_id}.sln").is_file()):
        return "stale"
    if not sidecar.is_file():
        return "foreign"
    recorded = sidecar.read_text(encoding="ascii", errors="replace").strip()
    return "current" if recorded == text_hash(text) else "stale"


def _render(tools: dict[str, str], text: str, out_dir: Path, prompt_id: str, sln: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="prompt-", dir=out_dir) as tmp:
        tmp_dir = Path(tmp)
        text_file = tmp_dir / "text.txt"
        raw = tmp_dir / "espeak.wav"
        wav = tmp_dir / f"{prompt_id}.wav"
        # Text goes through a file: a prompt that starts with '-' is not an option.
        text_file.write_text(text, encoding="utf-8")
        _run([tools["espeak-ng"], "-v", VOICE, "-s", str(SPEED_WPM), "-f", str(text_file),
              "-w", str(raw)], prompt_id)
        # Resample to Asterisk's slin (8 kHz mono s16), normalise a little below full
        # scale, and trim espeak's leading/trailing silence: no dead air on the line.
        _run([tools["sox"], str(raw), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16",
              "-e", "signed-integer", str(wav),
              "silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%", "reverse",
              "gain", "-n", "-3"], prompt_id)
        outputs = [(wav, out_dir / f"{prompt_id}.wav")]
        if sln:
            raw_sln = tmp_dir / f"{prompt_id}.sln"
            _run([tools["sox"], str(wav), "-t", "raw", "-r", str(SAMPLE_RATE), "-c", "1",
                  "-b", "16", "-e", "signed-integer", str(raw_sln)], prompt_id)
            outputs.append((raw_sln, out_dir / f"{prompt_id}.sln"))
        else:
            # An older .sln would be played instead of the new .wav (Asterisk picks any format).
            (out_dir / f"{prompt_id}.sln").unlink(missing_ok=True)
        # Replace atomically: a call playing the prompt right now keeps a whole file.
        for source, target in outputs:
            os.replace(source, target)
        sidecar_tmp = tmp_dir / "hash"
        sidecar_tmp.write_text(text_hash(text) + "\n", encoding="ascii")
        os.replace(sidecar_tmp, out_dir / f"{prompt_id}.sha256")
    log.info("rendered prompt %s", prompt_id)


def _run(argv: list[str], prompt_id: str) -> None:
    try:
        subprocess.run(argv, check=True, capture_output=True, timeout=120)
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode("utf-8", "replace").strip().splitlines()
        last = detail[-1] if detail else "no message"
        raise PromptBuildError(f"prompt '{prompt_id}': {Path(argv[0]).name} failed "
                               f"(exit {exc.returncode}): {last}") from None
    except subprocess.TimeoutExpired:
        raise PromptBuildError(
            f"prompt '{prompt_id}': {Path(argv[0]).name} did not finish in 120 s") from None
