"""The recognizer core on the real Korean model: menu words through the grammar, synonyms,
silence and noise that must fall back to the keys, and a model that is not there."""

from __future__ import annotations

import logging

import pytest

from callcenter.config import Settings
from callcenter.services.speech import model as model_module
from callcenter.services.speech.grammar import Grammar
from callcenter.services.speech.listen import MATCH, NOMATCH, SILENCE, Listener, recognise_pcm
from callcenter.services.speech.model import FRAME_BYTES, ModelProblem, SpeechModel

from .audio import noise, silence, spoken


@pytest.mark.parametrize(("word", "choice"), [("수리", "2"), ("불만", "3"), ("상담원", "0")])
def test_menu_words_are_recognised_through_the_grammar(ko_model, ko_menu, audio_dir, word, choice):
    heard = recognise_pcm(ko_model, ko_menu, spoken(word, audio_dir, tail_s=0.6))
    assert (heard.outcome, heard.choice, heard.phrase) == (MATCH, choice, word), heard
    assert heard.path_word == f"speech:{choice}"


def test_a_synonym_is_the_same_choice(ko_model, ko_menu, audio_dir):
    heard = recognise_pcm(ko_model, ko_menu, spoken("민원", audio_dir, tail_s=0.6))
    assert (heard.outcome, heard.choice, heard.phrase) == (MATCH, "3", "민원")


def test_the_answer_is_decided_as_speech_ends_not_when_the_audio_runs_out(ko_model, ko_menu, audio_dir):
    word = spoken("수리", audio_dir, lead_s=0.3, tail_s=0.0)
    listener = Listener(ko_model, ko_menu, end_silence_ms=200)
    pcm = word + silence(3.0)
    fed = 0
    heard = None
    for start in range(0, len(pcm), FRAME_BYTES):
        fed += FRAME_BYTES
        heard = listener.feed(pcm[start:start + FRAME_BYTES])
        if heard:
            break
    assert heard is not None and heard.choice == "2"
    # Decided within the end-of-speech silence (plus one frame), long before the 3 s ran out.
    assert fed - len(word) <= 200 * 16 + FRAME_BYTES


def test_silence_falls_back_to_keys(ko_model, ko_menu):
    heard = recognise_pcm(ko_model, ko_menu, silence(2.0))
    assert heard.outcome == SILENCE and heard.choice is None


@pytest.mark.parametrize("kind", ["whitenoise", "pinknoise", "brownnoise"])
def test_noise_is_not_an_answer(ko_model, ko_menu, audio_dir, kind):
    # Loud hiss: the bare recognizer maps it onto a menu word; the voice detector never
    # lets it start an answer.
    heard = recognise_pcm(ko_model, ko_menu, noise(kind, 2.0, audio_dir, volume=0.3))
    assert heard.outcome == SILENCE and heard.choice is None


def test_a_hum_is_voice_but_no_word(ko_model, ko_menu, audio_dir):
    heard = recognise_pcm(ko_model, ko_menu, noise("sine", 1.5, audio_dir) + silence(0.5))
    assert heard.outcome == NOMATCH and heard.choice is None


def test_one_model_per_process(ko_settings, ko_model):
    assert model_module.speech_model(ko_settings) is ko_model
    assert isinstance(ko_model, SpeechModel) and ko_model.language == "ko"


def test_a_missing_model_is_one_clear_line(tmp_path, caplog):
    settings = Settings(speech_model_path=tmp_path / "vosk-model-small-cn-0.22", database_url="sqlite://")
    with caplog.at_level(logging.WARNING, logger="callcenter.services.speech.model"):
        assert model_module.speech_model(settings) is None
        assert model_module.speech_model(settings) is None       # asked again: not logged again
    lines = [r.getMessage() for r in caplog.records]
    missing = tmp_path / "vosk-model-small-cn-0.22"
    assert lines == [f"speech off: the Vosk model directory does not exist ({missing}); "
                     + "speech steps in IVR flows work as key steps"]


def test_a_broken_model_is_one_clear_line(tmp_path, caplog):
    broken = tmp_path / "model"
    (broken / "am").mkdir(parents=True)
    (broken / "am" / "final.mdl").write_bytes(b"not a model")
    (broken / "conf").mkdir()
    (broken / "conf" / "model.conf").write_text("--beam=10\n")
    settings = Settings(speech_model_path=broken, database_url="sqlite://")
    with caplog.at_level(logging.WARNING, logger="callcenter.services.speech.model"):
        problem = model_module.load_speech_model(settings)
    assert isinstance(problem, ModelProblem)
    assert "could not be loaded" in problem.line() and str(broken) in problem.line()
    assert len(caplog.records) == 1


def test_no_model_configured_is_speech_off():
    problem = model_module.load_speech_model(Settings(database_url="sqlite://"))
    assert isinstance(problem, ModelProblem) and "no speech_model_path" in problem.line()


# -- grammar (text only) -----------------------------------------------------------------
def test_grammar_maps_synonyms_and_folds_traditional_characters():
    grammar = Grammar.from_phrases({"2": ["报修", "维修", "坏了"], "3": ["投诉"], "0": ["人工", "人工服务"]})
    assert grammar.phrases == ["报修", "维修", "坏了", "投诉", "人工", "人工服务"]
    assert grammar.match("我 要 報修") == ("2", "报修")
    assert grammar.match("维修") == ("2", "维修")
    assert grammar.match("人工 服务") == ("0", "人工服务")
    assert grammar.match("") is None
    assert grammar.match("你好") is None


def test_grammar_longest_phrase_wins_and_two_choices_are_none():
    grammar = Grammar.from_phrases({"1": ["满意"], "2": ["一般"], "3": ["不满意"]})
    assert grammar.match("不满意") == ("3", "不满意")
    assert grammar.match("满意") == ("1", "满意")
    assert grammar.match("一般 满意") is None


def test_an_empty_grammar_is_refused():
    with pytest.raises(ValueError):
        Grammar.from_phrases({"1": [" "]})
