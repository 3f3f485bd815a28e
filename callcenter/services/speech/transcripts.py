"""Transcripts of sampled calls, the checks on them, and what QA reads back.

The job (scheduler, ``callcenter transcribe``) takes the calls ``calls_to_transcribe``
picks, transcribes each side (``transcribe.py``), stores the lines, runs the checks
(``checks.py``) on the agent's side, stores the results and, when a check fails, raises
the call's weight in the QA sample (``flag_call(..., SPEECH_CHECK)``). QA's scorecard is
pre-filled from ``prefill_for_call`` — the inspector confirms or changes each answer and
submits; nothing here submits a score.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, exists, or_, select
from sqlalchemy.orm import Session

from callcenter.config import Settings
from callcenter.models import Call, QaAssignment, QaFlag, SpeechCheck, Transcript
from callcenter.services.qa import recordings as qa_recordings
from callcenter.services.qa.flags import SPEECH_CHECK, flag_call
from callcenter.services.qa.service_language import PhraseLists, phrase_lists
from callcenter.services.speech.checks import CHECK_LABELS, CheckResult, Limits, check_agent
from callcenter.services.speech.model import SpeechModel
from callcenter.services.speech.transcribe import (
    AGENT,
    CALLER,
    SIDES,
    SideText,
    TranscriptionError,
    side_files_for,
    transcribe_file,
)

log = logging.getLogger(__name__)


def calls_to_transcribe(session: Session, limit: int) -> list[Call]:
    """The calls the job transcribes next: recorded calls QA's draws gave an inspector, and
    those QA is asked to hear (any QA flag but our own), without a transcript yet, newest
    first. The one place the selection lives."""
    flagged = select(QaFlag.call_id).where(QaFlag.reason != SPEECH_CHECK)
    sampled = select(QaAssignment.call_id)
    transcribed = exists().where(Transcript.call_id == Call.id)
    query = (select(Call).where(or_(Call.id.in_(flagged), Call.id.in_(sampled)), Call.recording_file != "",
                                Call.recording_purged_at.is_(None), ~transcribed)
             .order_by(Call.started_at.desc(), Call.id.desc()).limit(limit))
    return list(session.scalars(query))


def recording_sides(call: Call, settings: Settings) -> dict[str, Path]:
    """The agent's and the caller's side files of ``call``: the names stored with the call
    (QA's ``recording_sides``), else the dialplan's names for its mixed recording."""
    caller, agent = qa_recordings.recording_sides(call)
    root = Path(settings.recordings_dir)
    if not caller and not agent:
        return side_files_for(call.recording_file, root)
    return {side: (root / name if not Path(name).is_absolute() else Path(name))
            for side, name in ((AGENT, agent), (CALLER, caller)) if name}


def limits_from(settings: Settings) -> Limits:
    return Limits(greeting_within_s=settings.speech_greeting_within_s,
                  farewell_within_s=settings.speech_farewell_within_s,
                  interruption_min_s=settings.speech_interruption_min_s,
                  min_word_conf=settings.speech_min_word_conf)


def spotting_vocabulary(lists: PhraseLists) -> list[str]:
    """Every phrase of the lists once: the vocabulary of phrase spotting."""
    return list(dict.fromkeys(p for name in ("greetings", "rude_openers", "polite", "farewells", "banned",
                                             "negative") for p in getattr(lists, name)))


def store_transcript(session: Session, call_id: int, text: SideText, model: SpeechModel) -> Transcript:
    session.execute(delete(Transcript).where(Transcript.call_id == call_id, Transcript.side == text.side))
    row = Transcript(call_id=call_id, side=text.side, source=str(text.source), model=model.path.name,
                     language=model.language, duration_s=text.duration_s, lines=text.lines)
    session.add(row)
    session.flush()
    return row


def transcripts_for(session: Session, call_id: int) -> dict[str, Transcript]:
    rows = session.scalars(select(Transcript).where(Transcript.call_id == call_id))
    return {row.side: row for row in rows}


def run_checks(session: Session, settings: Settings, call_id: int, lists: PhraseLists | None = None) -> list[CheckResult]:
    """Check the call's stored transcripts, store the results (replacing older ones) and
    flag the call for QA when a check failed. The caller commits."""
    sides = transcripts_for(session, call_id)
    agent = sides[AGENT].lines if AGENT in sides else []
    caller = sides[CALLER].lines if CALLER in sides else []
    results = check_agent(agent, caller, lists or phrase_lists(session), limits_from(settings))
    session.execute(delete(SpeechCheck).where(SpeechCheck.call_id == call_id))
    for result in results:
        session.add(SpeechCheck(call_id=call_id, check=result.check, passed=result.passed, evidence=result.evidence))
    failed = [r for r in results if not r.passed]
    if failed:
        detail = "未通过：" + "、".join(CHECK_LABELS[r.check] for r in failed)
        # One failed check is one more reason to listen; several weigh more.
        flag_call(session, call_id, SPEECH_CHECK, weight=float(len(failed)), detail=detail)
    session.flush()
    return results


def prefill_for_call(session: Session, call_id: int) -> dict[str, dict]:
    """What the speech checks suggest for the call's scorecard: check code → ``{"passed":
    bool, "label": 中文, "evidence": [moments]}``; empty when the call was not checked.
    Suggestions only: the inspector's form shows them pre-ticked and the inspector submits."""
    rows = session.scalars(select(SpeechCheck).where(SpeechCheck.call_id == call_id).order_by(SpeechCheck.id))
    return {row.check: {"passed": row.passed, "label": CHECK_LABELS.get(row.check, row.check),
                        "evidence": list(row.evidence or [])} for row in rows}


# The scorecard checks (services/qa/scorecards.py DEFAULT) each speech check speaks to.
# Passing the farewell check is not yet 问声、应声、送声 all three, but failing it fails them.
SCORECARD_CHECKS = {"greeting": "greeting", "farewell": "three_voices", "banned": "no_banned",
                    "negative": "no_negative", "interruption": "no_interrupt"}


def scorecard_suggestions(session: Session, call_id: int) -> dict[str, bool]:
    """The speech checks as answers to the scorecard's yes/no checks, to pre-fill (never
    submit) the inspector's form: scorecard check key → passed."""
    return {SCORECARD_CHECKS[code]: bool(found["passed"]) for code, found in prefill_for_call(session, call_id).items()
            if code in SCORECARD_CHECKS}


@dataclass
class Outcome:
    transcribed: list[int] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)          # one line per call that could not be done
    audio_s: float = 0.0


def transcribe_call(session: Session, settings: Settings, model: SpeechModel, call: Call,
                    sides: dict[str, Path], *, spotting: bool = False, lists: PhraseLists | None = None,
                    progress: Callable[[float], None] | None = None) -> list[CheckResult]:
    """Transcribe the given side files of ``call``, store them, run the checks. A side
    missing from ``sides`` is not transcribed (a call with no agent side fails the
    greeting check rather than being guessed). ``lists``: the phrase lists (default: the
    site's). Raises TranscriptionError; the caller commits."""
    lists = lists or phrase_lists(session)
    vocabulary = spotting_vocabulary(lists) if spotting else None
    for side in SIDES:
        if side in sides:
            text = transcribe_file(model, side, sides[side], vocabulary=vocabulary, progress=progress)
            store_transcript(session, call.id, text, model)
    return run_checks(session, settings, call.id, lists)


def transcribe_pending(session_factory: Callable[[], object], settings: Settings, model: SpeechModel, *,
                       limit: int | None = None, spotting: bool = False,
                       on_call: Callable[[Call, dict[str, Path]], None] | None = None,
                       progress: Callable[[float], None] | None = None) -> Outcome:
    """The job: each selected call in its own transaction, so one bad file costs only
    that call (it is reported and picked again next run once fixed)."""
    outcome = Outcome()
    with session_factory() as session:
        calls = calls_to_transcribe(session, limit or settings.speech_transcribe_batch)
        work = [(call.id, recording_sides(call, settings)) for call in calls]
    for call_id, sides in work:
        with session_factory() as session:
            call = session.get(Call, call_id)
            if on_call is not None:
                on_call(call, sides)
            try:
                transcribe_call(session, settings, model, call, sides, spotting=spotting, progress=progress)
            except TranscriptionError as exc:
                session.rollback()
                outcome.failed.append(f"call {call_id}: {exc}")
                log.warning("speech: call %s not transcribed: %s", call_id, exc)
                continue
            outcome.transcribed.append(call_id)
            outcome.audio_s += sum(t.duration_s for t in transcripts_for(session, call_id).values())
    return outcome


# Vosk separates Chinese words with spaces; a reader wants 我家漏水了, not 我 家 漏水 了.
_SPACE_BETWEEN_HAN = re.compile(r"(?<=[\u3400-\u9fff]) +(?=[\u3400-\u9fff])")


def readable(text: str) -> str:
    return _SPACE_BETWEEN_HAN.sub("", text)


def transcript_view(session: Session, call_id: int) -> dict:
    """The transcript as the widget shows it: both sides' lines merged in time order,
    each with its side, plus the check results."""
    sides = transcripts_for(session, call_id)
    lines = [{"side": side, "start": line["start"], "end": line["end"], "text": readable(line["text"])}
             for side, row in sides.items() for line in row.lines]
    lines.sort(key=lambda line: (line["start"], line["side"]))
    return {"call_id": call_id, "lines": lines, "checks": prefill_for_call(session, call_id),
            "model": next((row.model for row in sides.values()), "")}
