"""``callcenter transcribe``: transcripts and service-language checks of recorded calls."""

from __future__ import annotations

import contextlib
import sys
import wave
from collections.abc import Iterator
from pathlib import Path

import click

from callcenter.config import Settings, get_settings


def _seconds(path: Path) -> float:
    try:
        with wave.open(str(path), "rb") as audio:
            return audio.getnframes() / audio.getframerate()
    except (OSError, wave.Error, EOFError):
        return 0.0


class _Bar:
    """A click progress bar over seconds of audio, fed the seconds of each chunk done."""

    def __init__(self, total_s: float, label: str, quiet: bool) -> None:
        self._bar = None if quiet else click.progressbar(length=max(1, int(total_s * 1000)), label=label,
                                                         file=sys.stderr)
        self._carried = 0.0          # audio done but not yet shown (the bar counts whole ms)

    def __call__(self, seconds: float) -> None:
        if self._bar is not None:
            self._carried += seconds * 1000
            step = int(self._carried)
            if step:
                self._bar.update(step)
                self._carried -= step

    @contextlib.contextmanager
    def shown(self) -> Iterator[_Bar]:
        if self._bar is None:
            yield self
            return
        with self._bar:
            yield self


@click.command("transcribe")
@click.option("--call", "call_id", type=int, default=None,
              help="Transcribe this call (default: the sampled calls not transcribed yet).")
@click.option("--agent", "agent_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --call: the agent's side file (default: <recording>-agent.wav).")
@click.option("--caller", "caller_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="With --call: the caller's side file (default: <recording>-caller.wav).")
@click.option("--limit", type=click.IntRange(1, 100_000), default=None,
              help="At most this many calls (default: speech_transcribe_batch).")
@click.option("--spotting", is_flag=True,
              help="Recognise only the service-language phrases (faster, surer on a small model; "
                   "the transcript then holds only those phrases).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def transcribe(call_id: int | None, agent_file: Path | None, caller_file: Path | None, limit: int | None,
               spotting: bool, quiet: bool) -> None:
    """Transcribe each side of recorded calls with word timings, store the transcripts,
    run the service-language checks (greeting, farewell, 服务忌语, negative words,
    interruptions) and flag calls that fail one for QA. Exit status 1 when a call could
    not be transcribed (each is listed) or no Vosk model is usable."""
    from callcenter.services.speech.model import load_speech_model

    settings = get_settings()
    if (agent_file or caller_file) and call_id is None:
        raise click.UsageError("--agent/--caller name the side files of one call: give --call too")
    model = load_speech_model(settings)
    if not hasattr(model, "model"):
        raise click.ClickException(model.line())
    if call_id is not None:
        _one_call(settings, model, call_id, agent_file, caller_file, spotting, quiet)
    else:
        _sampled_calls(settings, model, limit, spotting, quiet)


def _one_call(settings: Settings, model, call_id: int, agent_file: Path | None, caller_file: Path | None,
              spotting: bool, quiet: bool) -> None:
    from callcenter.db import session_scope
    from callcenter.models import Call
    from callcenter.services.speech import transcripts
    from callcenter.services.speech.transcribe import AGENT, CALLER, TranscriptionError

    with session_scope(settings.database_url) as session:
        call = session.get(Call, call_id)
        if call is None:
            raise click.ClickException(f"no call {call_id}")
        sides = transcripts.recording_sides(call, settings)
        if agent_file or caller_file:
            sides = {side: path for side, path in ((AGENT, agent_file), (CALLER, caller_file)) if path}
        bar = _Bar(sum(_seconds(p) for p in sides.values()), f"call {call_id}", quiet)
        try:
            with bar.shown():
                results = transcripts.transcribe_call(session, settings, model, call, sides, spotting=spotting,
                                                      progress=bar)
        except TranscriptionError as exc:
            raise click.ClickException(str(exc)) from None
    for result in results:
        click.echo(f"  {result.check:13} {'ok' if result.passed else '未通过'}"
                   + "".join(f"  {e.get('at', 0):.1f}s {e.get('phrase', '')}" for e in result.evidence[:5]))


def _sampled_calls(settings: Settings, model, limit: int | None, spotting: bool, quiet: bool) -> None:
    from callcenter.db import session_scope
    from callcenter.services.speech import transcripts

    def scope():
        return session_scope(settings.database_url)

    with scope() as session:
        pending = transcripts.calls_to_transcribe(session, limit or settings.speech_transcribe_batch)
        total = sum(_seconds(p) for call in pending for p in transcripts.recording_sides(call, settings).values())
    if not pending:
        click.echo("no sampled call is waiting for a transcript")
        return
    bar = _Bar(total, f"{len(pending)} calls", quiet)
    with bar.shown():
        outcome = transcripts.transcribe_pending(scope, settings, model, limit=len(pending), spotting=spotting,
                                                 progress=bar)
    click.echo(f"transcribed {len(outcome.transcribed)} calls ({outcome.audio_s:.0f} s of audio)")
    for line in outcome.failed:
        click.echo(f"  not transcribed: {line}", err=True)
    if outcome.failed:
        sys.exit(1)


COMMANDS = [transcribe]
