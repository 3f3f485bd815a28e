"""``speech:`` in a flow file: what validation accepts and what it reports."""

from __future__ import annotations

from pathlib import Path

import pytest

from callcenter.ivr.flow import FlowError
from callcenter.ivr.loader import load_flows

SHIPPED = Path(__file__).resolve().parents[2] / "ivr_flows"

BASE = """
root: main
defaults: {default: {queue: human}}
prompts: {menu: 请按键, speak: 请说}
nodes:
  main:
    prompt: menu
    keys: {"1": {queue: repair}, "2": {queue: complaint}}
    speech:
SPEECH"""


def compile_text(tmp_path, speech: str):
    (tmp_path / "f.yaml").write_text(BASE.replace("SPEECH", speech), encoding="utf-8")
    return load_flows(tmp_path)["f"]


def problems(tmp_path, speech: str) -> str:
    with pytest.raises(FlowError) as caught:
        compile_text(tmp_path, speech)
    return "\n".join(caught.value.problems)


def test_phrases_per_language_reach_the_engine(tmp_path):
    flow = compile_text(tmp_path, "      prompt: speak\n      phrases:\n        cmn: {\"1\": [报修, 维修], \"2\": 投诉}\n"
                                  "        ko: {\"1\": [수리]}\n")
    speech = flow.node("main").speech
    assert speech.prompt == "speak"
    assert speech.for_language("cmn") == {"1": ("报修", "维修"), "2": ("投诉",)}
    assert speech.for_language("zh-CN") == speech.for_language("cmn")
    assert speech.for_language("ko") == {"1": ("수리",)}
    assert speech.for_language("en") is None          # no phrases: the menu is a key menu


def test_a_phrase_for_a_key_the_menu_does_not_offer(tmp_path):
    text = problems(tmp_path, "      phrases:\n        cmn: {\"7\": [订单]}\n")
    assert "node 'main': speech: 'cmn' phrases for key '7', which this menu does not offer (keys: 1, 2)" in text


def test_one_phrase_for_two_keys_and_empty_phrases(tmp_path):
    text = problems(tmp_path, "      phrases:\n        cmn: {\"1\": [报修], \"2\": [报修, \"\"]}\n")
    assert "speech: 'cmn' key '2': every phrase must be non-empty text" in text
    text = problems(tmp_path, "      phrases:\n        cmn: {\"1\": [报修], \"2\": [报修]}\n")
    assert "speech: 'cmn' phrase '报修' is given for keys '1' and '2'" in text


def test_unknown_prompt_and_language(tmp_path):
    text = problems(tmp_path, "      prompt: nope\n      phrases:\n        Chinese!: {\"1\": [报修]}\n")
    assert "speech: 'prompt' names prompt 'nope'" in text
    assert "speech: 'Chinese!' is not a language code" in text


def test_speech_needs_phrases(tmp_path):
    text = problems(tmp_path, "      prompt: speak\n")
    assert "node 'main'" in text and "phrases" in text


def test_shipped_main_menu_takes_mandarin_answers():
    speech = load_flows(SHIPPED)["main"].node("main").speech
    assert speech is not None and speech.prompt == "main_menu_speech"
    assert speech.for_language("cmn")["2"][:2] == ("报修", "维修")
    assert speech.for_language("cmn")["0"][0] == "人工"
