"""Transcripts on the real Korean model: a two-side recording (each side its own file, as
MixMonitor's r()/t() write them) transcribed with word timings, stored, checked; a listed
phrase found at the moment it was said; the call flagged for QA; the scorecard pre-fill;
``callcenter transcribe`` with its progress bar and its errors. SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from callcenter.cli import main
from callcenter.config import get_settings
from callcenter.models import Call, QaFlag, SpeechCheck, Transcript
from callcenter.services.qa.flags import SPEECH_CHECK, SUPERVISOR, flag_call
from callcenter.services.qa.service_language import PhraseLists
from callcenter.services.speech import transcripts
from callcenter.services.speech.model import SAMPLE_RATE
from callcenter.services.speech.transcribe import AGENT, CALLER, TranscriptionError, side_files_for

from .audio import silence, spoken, write_wav

# The rulebook's lists are Chinese; the Korean model needs Korean ones for the same roles:
# 안녕하세요 (hello) greets, 감사합니다 (thank you) closes, 몰라요 ("I don't know", the
# Korean 不知道) is banned.
KO_LISTS = PhraseLists(greetings=("안녕하세요",), farewells=("감사합니다",), banned=("몰라요",),
                       negative=("싫어요",), rude_openers=(), polite=())


def seconds(pcm: bytes) -> float:
    return len(pcm) / 2 / SAMPLE_RATE


@pytest.fixture
def recorded_call(settings, session, audio_dir):
    """A call whose side files hold: agent 안녕하세요 at 0.5 s … 몰라요 at ``banned_at``;
    the caller's 안녕하세요 in between."""
    call = Call(uniqueid="1795344497.20", linkedid="1795344497.20", channel="PJSIP/trunk-0001",
                caller_e164="+8613800138000", recording_file="calls/2026/12/06/1795344497.20.wav")
    session.add(call)
    session.commit()
    hello = spoken("안녕하세요", audio_dir, lead_s=0.0)
    dont_know = spoken("몰라요", audio_dir, lead_s=0.0)
    agent = silence(0.5) + hello + silence(2.5)
    banned_at = seconds(agent)
    agent += dont_know + silence(1.0)
    caller = silence(seconds(hello) + 0.7) + hello
    caller += silence(seconds(agent) - seconds(caller))
    sides = side_files_for(call.recording_file, settings.recordings_dir)
    write_wav(sides[AGENT], agent)
    write_wav(sides[CALLER], caller)
    return call, sides, banned_at


def test_two_sides_transcribed_and_a_banned_phrase_found_at_its_moment(settings, session, ko_model, recorded_call):
    call, sides, banned_at = recorded_call
    assert sides[AGENT].name == "1795344497.20-agent.wav" and sides[CALLER].name == "1795344497.20-caller.wav"
    results = transcripts.transcribe_call(session, settings, ko_model, call, sides, spotting=True, lists=KO_LISTS)
    session.commit()

    stored = transcripts.transcripts_for(session, call.id)
    assert set(stored) == {AGENT, CALLER}
    agent_words = [w for line in stored[AGENT].lines for w in line["words"]]
    assert next(w[0] for w in agent_words) == "안녕하세요"
    assert all(start <= end for _, start, end, _conf in agent_words)
    assert stored[AGENT].model == "model" and stored[AGENT].language == "ko"
    assert abs(stored[AGENT].duration_s - (banned_at + 1.0 + 0.0)) < 1.0

    checks = {r.check: r for r in results}
    assert checks["greeting"].passed and abs(checks["greeting"].evidence[0]["at"] - 0.5) < 0.3
    banned = checks["banned"]
    assert not banned.passed
    assert [e["phrase"] for e in banned.evidence] == ["몰라요"], (banned.evidence, stored[AGENT].lines)
    assert abs(banned.evidence[0]["at"] - banned_at) < 0.3, (banned.evidence, banned_at)

    # Stored, flagged for QA, and offered to the scorecard as a suggestion.
    rows = {row.check: row for row in session.scalars(select(SpeechCheck).where(SpeechCheck.call_id == call.id))}
    assert rows["banned"].passed is False and rows["greeting"].passed is True
    flag = session.scalars(select(QaFlag).where(QaFlag.call_id == call.id, QaFlag.reason == SPEECH_CHECK)).one()
    assert "无服务忌语" in flag.detail and flag.weight >= 1.0
    prefill = transcripts.prefill_for_call(session, call.id)
    assert prefill["banned"]["passed"] is False and prefill["banned"]["label"] == "无服务忌语"
    assert prefill["banned"]["evidence"][0]["phrase"] == "몰라요"

    # Transcribing again replaces, never duplicates.
    transcripts.transcribe_call(session, settings, ko_model, call, sides, spotting=True, lists=KO_LISTS)
    session.commit()
    assert len(session.scalars(select(Transcript).where(Transcript.call_id == call.id)).all()) == 2
    assert len(session.scalars(select(SpeechCheck).where(SpeechCheck.call_id == call.id)).all()) == 5

    view = transcripts.transcript_view(session, call.id)
    assert {line["side"] for line in view["lines"]} == {AGENT, CALLER}
    assert view["lines"] == sorted(view["lines"], key=lambda line: (line["start"], line["side"]))


def test_a_missing_or_broken_side_file_is_a_clear_error(settings, session, ko_model, recorded_call, tmp_path):
    call, sides, _ = recorded_call
    sides[CALLER].unlink()
    with pytest.raises(TranscriptionError, match="1795344497.20-caller.wav: no such recording"):
        transcripts.transcribe_call(session, settings, ko_model, call, sides)
    not_wav = tmp_path / "x.wav"
    not_wav.write_bytes(b"ID3 an mp3 by mistake")
    with pytest.raises(TranscriptionError, match="not a WAV file"):
        transcripts.transcribe_call(session, settings, ko_model, call, {AGENT: not_wav})


def test_the_sampled_calls_are_the_flagged_ones_not_yet_transcribed(session, recorded_call):
    call, _, _ = recorded_call
    assert transcripts.calls_to_transcribe(session, 10) == []          # not flagged for QA
    flag_call(session, call.id, SPEECH_CHECK)
    session.commit()
    assert transcripts.calls_to_transcribe(session, 10) == []          # our own flag does not count
    flag_call(session, call.id, SUPERVISOR)
    session.commit()
    assert [c.id for c in transcripts.calls_to_transcribe(session, 10)] == [call.id]


@pytest.fixture
def cli(settings, ko_settings, monkeypatch):
    monkeypatch.setenv("CALLCENTER_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("CALLCENTER_RECORDINGS_DIR", str(settings.recordings_dir))
    monkeypatch.setenv("CALLCENTER_SPEECH_MODEL_PATH", str(ko_settings.speech_model_path))
    monkeypatch.setenv("CALLCENTER_SPEECH_LANGUAGE", "ko")
    get_settings.cache_clear()
    yield lambda *args: CliRunner().invoke(main, ["transcribe", *args])
    get_settings.cache_clear()


def test_cli_transcribes_the_sampled_calls_with_a_progress_bar(cli, session, recorded_call):
    call, _sides, _ = recorded_call
    flag_call(session, call.id, SUPERVISOR)
    session.commit()
    result = cli()
    assert result.exit_code == 0, result.output
    assert "transcribed 1 calls" in result.output
    assert "1 calls" in result.stderr          # the progress bar's label
    session.expire_all()
    assert set(transcripts.transcripts_for(session, call.id)) == {AGENT, CALLER}
    assert cli().output.strip() == "no sampled call is waiting for a transcript"


def test_cli_one_call_with_side_files_named(cli, session, recorded_call):
    call, sides, _ = recorded_call
    result = cli("--call", str(call.id), "--agent", str(sides[AGENT]), "--quiet")
    assert result.exit_code == 0, result.output
    assert "greeting" in result.output and "banned" in result.output
    session.expire_all()
    assert set(transcripts.transcripts_for(session, call.id)) == {AGENT}


def test_cli_errors_are_one_line(cli, session, recorded_call, monkeypatch, tmp_path):
    call, sides, _ = recorded_call
    sides[AGENT].unlink()
    result = cli("--call", str(call.id), "--quiet")
    assert result.exit_code == 1 and "1795344497.20-agent.wav: no such recording" in result.output
    assert cli("--agent", "x.wav").exit_code == 2
    monkeypatch.setenv("CALLCENTER_SPEECH_MODEL_PATH", str(tmp_path / "no-model"))
    get_settings.cache_clear()
    result = cli("--quiet")
    assert result.exit_code == 1
    assert result.output.strip() == (f"Error: speech off: the Vosk model directory does not exist ({tmp_path / 'no-model'}); "
                                     "speech steps in IVR flows work as key steps")


def test_the_scheduler_job_transcribes_the_sampled_calls(settings, ko_settings, session, recorded_call):
    from callcenter.scheduler import jobs

    call, _, _ = recorded_call
    flag_call(session, call.id, SUPERVISOR)
    session.commit()
    assert [job.id for job in jobs.SCHEDULE if job.func.endswith(":speech_transcribe")] == ["speech_transcribe"]
    try:
        jobs.configure(settings)                                    # no model: the job does nothing
        assert jobs.speech_transcribe() == 0
        jobs.configure(settings.model_copy(update={"speech_model_path": ko_settings.speech_model_path,
                                                   "speech_language": "ko"}))
        assert jobs.speech_transcribe() == 1
        assert jobs.speech_transcribe() == 0                         # done once
    finally:
        jobs.configure(None)
    session.expire_all()
    assert set(transcripts.transcripts_for(session, call.id)) == {AGENT, CALLER}
