"""The service-language checks on transcripts written here by hand (the rulebook's lists
of services/qa/service_language.yaml): what passes, what fails, and the moments found."""

from __future__ import annotations

from callcenter.services.qa.service_language import default_phrase_lists
from callcenter.services.speech.checks import (
    BANNED,
    FAREWELL,
    GREETING,
    INTERRUPTION,
    NEGATIVE,
    Limits,
    check_agent,
    find_phrases,
)

LISTS = default_phrase_lists()


def line(start: float, *words: str, step: float = 0.4) -> dict:
    """A transcript line as Vosk gives it for Mandarin: words with times, space-joined text."""
    timed = [[w, round(start + i * step, 2), round(start + (i + 1) * step - 0.05, 2)] for i, w in enumerate(words)]
    return {"start": timed[0][1], "end": timed[-1][2], "text": " ".join(words), "words": timed}


def by_check(results) -> dict:
    return {r.check: r for r in results}


GOOD_AGENT = [
    line(0.5, "您好", "物业", "客服", "中心", "请问", "有", "什么", "可以", "帮助", "您"),
    line(9.0, "好的", "我", "马上", "安排", "师傅", "上门"),
    line(20.0, "感谢", "您", "的", "来电", "再见"),
]
GOOD_CALLER = [line(5.0, "我", "家", "水管", "漏水", "了"), line(15.0, "好", "谢谢")]


def test_a_model_call_passes_everything():
    results = by_check(check_agent(GOOD_AGENT, GOOD_CALLER, LISTS))
    assert all(r.passed for r in results.values()), results
    assert results[GREETING].evidence[0] == {"at": 0.5, "phrase": "您好", "text": GOOD_AGENT[0]["text"]}
    assert results[FAREWELL].evidence[0]["phrase"] in ("感谢您的来电", "再见")


def test_banned_phrases_and_negative_words_with_their_moments():
    agent = [GOOD_AGENT[0],
             line(8.0, "这个", "事儿", "我", "处理", "不了"),
             line(12.0, "我", "不", "知道", "你", "问", "别人"),
             GOOD_AGENT[2]]
    results = by_check(check_agent(agent, GOOD_CALLER, LISTS))
    banned = results[BANNED]
    assert not banned.passed
    found = {(e["phrase"], e["at"]) for e in banned.evidence}
    assert ("这个事儿我处理不了", 8.0) in found          # spans five words; the moment is its first
    assert ("不知道", 12.4) in found
    negative = results[NEGATIVE]
    assert not negative.passed and [(e["phrase"], e["at"]) for e in negative.evidence] == [("不知道", 12.4)]
    assert results[GREETING].passed and results[FAREWELL].passed


def test_traditional_characters_match_the_simplified_lists():
    agent = [line(0.3, "您好"), line(4.0, "這個", "事兒", "我", "處理", "不了"), line(9.0, "謝謝", "您的", "來電", "再見")]
    results = by_check(check_agent(agent, [], LISTS))
    assert [e["phrase"] for e in results[BANNED].evidence] == ["这个事儿我处理不了"]
    assert results[FAREWELL].passed


def test_a_rude_opener_or_a_late_greeting_fails():
    results = by_check(check_agent([line(0.4, "喂", "您好"), GOOD_AGENT[2]], [], LISTS))
    assert not results[GREETING].passed and results[GREETING].evidence[0]["phrase"] == "喂"
    late = by_check(check_agent([line(0.4, "嗯"), line(12.0, "您好"), GOOD_AGENT[2]], [], LISTS))
    assert not late[GREETING].passed


def test_no_farewell_at_the_end_fails():
    agent = [GOOD_AGENT[0], line(9.0, "再见"), line(40.0, "好", "的")]        # 再见 far from the end
    results = by_check(check_agent(agent, [line(45.0, "嗯")], LISTS))
    assert not results[FAREWELL].passed
    assert results[FAREWELL].evidence == [{"at": 40.0, "phrase": "", "text": "好 的"}]


def test_interruptions_are_both_sides_at_once():
    caller = [line(5.0, "我", "家", "的", "水管", "昨天", "开始", "一直", "漏水")]       # 5.0 – 8.15
    agent = [GOOD_AGENT[0], line(6.0, "你", "先", "听", "我", "说"), GOOD_AGENT[2]]   # 6.0 – 7.95
    results = by_check(check_agent(agent, caller, LISTS))
    assert not results[INTERRUPTION].passed
    assert results[INTERRUPTION].evidence == [{"at": 6.0, "seconds": 1.95}]
    # A short "嗯" over the caller is listening, not interrupting.
    backchannel = [GOOD_AGENT[0], line(6.0, "嗯"), GOOD_AGENT[2]]
    assert by_check(check_agent(backchannel, caller, LISTS))[INTERRUPTION].passed
    # The limit is a setting.
    strict = by_check(check_agent(backchannel, caller, LISTS, Limits(interruption_min_s=0.2)))
    assert not strict[INTERRUPTION].passed


def test_a_silent_agent_fails_greeting_and_farewell():
    results = by_check(check_agent([], GOOD_CALLER, LISTS))
    assert not results[GREETING].passed and not results[FAREWELL].passed
    assert results[BANNED].passed and results[INTERRUPTION].passed


def test_find_phrases_reports_every_occurrence_in_time_order():
    lines = [line(1.0, "不行", "不行"), line(5.0, "不能", "不会")]
    assert [(f["phrase"], f["at"]) for f in find_phrases(lines, LISTS.negative)] == [
        ("不行", 1.0), ("不行", 1.4), ("不能", 5.0), ("不会", 5.4)]
